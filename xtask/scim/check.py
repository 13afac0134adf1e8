"""Runs scim2-tester (PyPI) against a Portcullis realm's SCIM service.

Environment: PORTCULLIS_SCIM_URL (the realm's SCIM base URL), and either
PORTCULLIS_SCIM_TOKEN (a bearer token holding scim:provision:all) or
PORTCULLIS_SCIM_TOKEN_URL, PORTCULLIS_SCIM_CLIENT_ID and
PORTCULLIS_SCIM_CLIENT_SECRET (a client whose tokens hold it).
Prints one JSON object per check on stdout: {"title", "status", "reason"};
exits 0 when no check ended in an error.
"""

import json
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    url = os.environ["PORTCULLIS_SCIM_URL"]
    token = os.environ.get("PORTCULLIS_SCIM_TOKEN")
    if not token:
        answer = Client(timeout=30).post(
            os.environ["PORTCULLIS_SCIM_TOKEN_URL"],
            data={"grant_type": "client_credentials"},
            auth=(os.environ["PORTCULLIS_SCIM_CLIENT_ID"], os.environ["PORTCULLIS_SCIM_CLIENT_SECRET"]),
        )
        answer.raise_for_status()
        token = answer.json()["access_token"]
    http = Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    scim = SyncSCIMClient(http)
    results = check_server(scim)
    failed = 0
    for r in results:
        status = r.status.name if hasattr(r.status, "name") else str(r.status)
        if r.status == Status.ERROR or r.status == Status.CRITICAL:
            failed += 1
        print(json.dumps({"title": r.title, "status": status, "reason": str(r.reason or "")}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
