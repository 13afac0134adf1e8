"""Authentication and exclusions of the schemathesis run (`cargo xtask
schemathesis`); docs/testing.md explains the run.

Credentials. Every operation the document secures is sent with some:

- The endpoints that take OAuth client authentication (token, introspection,
  revocation) get HTTP Basic of the run's confidential client.
- The caller's own operations (bearer-secured, under `/auth/`, `/mfa/`,
  `/bff/`, and UserInfo) each get the access token of an account of their
  own, a plain user created on first use (`st-<operation>@...`) and signed in
  with its password. What one of them does to its account (a logout ends
  its session, wrong passwords and codes lock it, a factor is enrolled)
  spoils none of the others.
- Every other bearer-secured operation gets a client_credentials token of the
  run's client, whose service account holds the realm administrator's
  permissions as direct grants: no password, no session, so neither
  lockouts, nor the risk policy, nor changes to the built-in roles (all of
  which the run fuzzes) take its rights away.

When a token stops working, the next request answers 401; schemathesis asks
for new tokens (`retry_on`) and replays it. An account's new token comes from
its refresh token, else from its password. A token that cannot be had (its
account was locked out by the fuzzed operation itself, say) is recorded in
the stats file and replaced with one that does not work: the operation then
answers 401, which it documents, instead of stopping the run.

Logins are sent with the User-Agent of the fuzzed requests (the server binds
a session to the device that signed in; a request from another device raises
the session's risk) and from 127.0.0.2, another loopback address than the
fuzzed requests' (the failed logins the run sends from 127.0.0.1 rightly
lock that address out of logging in).

Exclusions: cases dropped before they are sent, counted in the stats file.
The run may read its own credentials' objects but never change them: any
request but GET that names one of the run's accounts (id or e-mail address),
its client or the client's service account is dropped. The fuzzer learns
these values from responses, and would deactivate, delete, lock out or strip
the accounts the run authenticates with, or disable or re-key its client.

Redirections: PATCH and DELETE of `/api/v1/realms/{realm}` naming the run's
realm go to a scratch realm instead (created again whenever the fuzzer has
deleted it): disabling or deleting the run's realm would end the run, and
these two operations would otherwise only ever see realms that do not exist.

Settings come from the environment xtask sets: PORTCULLIS_URL,
PORTCULLIS_REALM, PORTCULLIS_FUZZ_SCRATCH_REALM, PORTCULLIS_FUZZ_PASSWORD
(every account's),
PORTCULLIS_FUZZ_CLIENT_ID, PORTCULLIS_FUZZ_CLIENT_SECRET,
PORTCULLIS_FUZZ_PROTECTED (JSON: more values no changing request may name),
PORTCULLIS_FUZZ_USER_AGENT and PORTCULLIS_FUZZ_STATS (the stats file, JSON).
"""

import ast
import atexit
import base64
import json
import os
import re
import threading
import time
from collections import Counter

import requests
import schemathesis
from requests.adapters import HTTPAdapter

# Where the logins come from.
LOGIN_SOURCE_ADDRESS = "127.0.0.2"
# The domain of the accounts the run creates.
ACCOUNT_DOMAIN = "portcullis.test"
# Operations authenticated as an OAuth client rather than with a bearer token.
CLIENT_AUTH_SUFFIXES = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")
# The caller's own operations, by the path after the optional
# `/api/v1/realms/{realm}` prefix.
SELF_SERVICE = re.compile(r"^/api/v1/(auth|mfa|bff)/|^/realms/\{realm\}/oauth2/userinfo$")
# What a token that cannot be had is replaced with: one no server accepts.
NO_TOKEN = "no-token"

# Targeted generation off. schemathesis reports each fuzzed case's success to
# Hypothesis (`hypothesis.target`), whose hill climbing over those targets
# (hypothesis 6.170.27, optimiser.attempt_replace) raises IndexError on a
# random operation now and then: a "Runtime Error" in the tool, not an answer
# of the server (every generated case still passed). Without targets the
# cases are drawn as before, minus that steering toward accepted inputs.
import schemathesis.generation.metrics as _st_metrics  # noqa: E402


def _no_targets(metrics, case, response):  # noqa: ARG001
    return None


_st_metrics.maximize = _no_targets


# CPython before 3.11.8 and 3.12.2 counts the depth of the AST it builds in
# state every thread shares (gh-106905): two threads parsing at once (the
# workers, when Hypothesis describes a filter's lambda) fail with
# "SystemError: AST constructor recursion depth mismatch". One at a time.
_parse_lock = threading.Lock()
_parse = ast.parse


def _parse_one_at_a_time(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time

_lock = threading.RLock()
_stats = Counter()
# Values no changing request may name: the run's client and service
# account (from xtask), and the id and address of every account created.
_protected = []
# Account e-mail address -> refresh token of its session.
_refresh_tokens = {}
# Account e-mail addresses created so far.
_accounts = set()


def _count(key):
    with _lock:
        _stats[key] += 1


@atexit.register
def _write_stats():
    path = os.environ.get("PORTCULLIS_FUZZ_STATS")
    if path:
        with _lock, open(path, "w") as out:
            json.dump(dict(_stats), out, indent=1, sort_keys=True)


def _env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run this through `cargo xtask schemathesis`")
    return value


def _protected_values():
    with _lock:
        if not _protected:
            _protected.extend(json.loads(_env("PORTCULLIS_FUZZ_PROTECTED")))
        return list(_protected)


def _short(path):
    """`/api/v1/realms/{realm}/auth/me` -> `/api/v1/auth/me`."""
    return path.replace("/api/v1/realms/{realm}/", "/api/v1/", 1)


def _identity(operation):
    """`client`, `service`, an account's e-mail address, or None (no credentials)."""
    if operation.path.endswith(CLIENT_AUTH_SUFFIXES):
        return "client"
    security = operation.definition.raw.get("security") or []
    if not any("bearer" in requirement for requirement in security):
        return None
    short = _short(operation.path)
    if SELF_SERVICE.search(short):
        slug = re.sub(r"[^a-z0-9]+", "-", f"{operation.method} {short}".lower()).strip("-")
        slug = slug.replace("-api-v1-", "-", 1)
        return f"st-{slug}@{ACCOUNT_DOMAIN}"
    return "service"


class _FromLoginAddress(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (LOGIN_SOURCE_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)


def _request(method, path, **kwargs):
    headers = {"User-Agent": _env("PORTCULLIS_FUZZ_USER_AGENT")}
    headers.update(kwargs.pop("headers", {}))
    with requests.Session() as session:
        session.mount("http://", _FromLoginAddress())
        return session.request(method, _env("PORTCULLIS_URL") + path, headers=headers, timeout=30, **kwargs)


def _service_token():
    realm = _env("PORTCULLIS_REALM")
    response = _request(
        "POST",
        f"/realms/{realm}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(_env("PORTCULLIS_FUZZ_CLIENT_ID"), _env("PORTCULLIS_FUZZ_CLIENT_SECRET")),
    )
    if response.status_code != 200:
        _count(f"no token: service: {response.status_code}")
        return NO_TOKEN
    _count("tokens: service")
    return response.json()["access_token"]


# The service token the hooks use themselves (to create accounts and the
# scratch realm), and when it was fetched.
_own_token = [None, 0.0]


def _own_service_token():
    with _lock:
        token, fetched = _own_token
        if token is None or time.monotonic() - fetched > 240:
            token = _service_token()
            _own_token[:] = [token, time.monotonic()]
        return token


def _create_account(email):
    response = _request(
        "POST",
        "/api/v1/identity/users",
        headers={"Authorization": f"Bearer {_own_service_token()}"},
        json={"email": email, "password": _env("PORTCULLIS_FUZZ_PASSWORD")},
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating the account {email}: {response.status_code} {response.text}")
    with _lock:
        _protected_values()
        _protected.extend([email, response.json()["id"]])
        _accounts.add(email)
    _count("accounts")


def _account_token(email):
    with _lock:
        created = email in _accounts
        refresh = _refresh_tokens.pop(email, None)
    if not created:
        _create_account(email)
    if refresh is not None:
        response = _request("POST", "/api/v1/auth/refresh", json={"refresh_token": refresh})
        if response.status_code == 200:
            _count("refreshes")
            return _keep(email, response.json())
    response = _request(
        "POST",
        "/api/v1/auth/login",
        json={"email": email, "password": _env("PORTCULLIS_FUZZ_PASSWORD")},
    )
    tokens = response.json() if response.status_code == 200 else {}
    if "access_token" not in tokens:
        _count(f"no token: {email}: {response.status_code}")
        return NO_TOKEN
    _count("logins")
    return _keep(email, tokens)


def _keep(email, tokens):
    if tokens.get("refresh_token"):
        with _lock:
            _refresh_tokens[email] = tokens["refresh_token"]
    return tokens["access_token"]


def _cache_key(case, ctx):
    return _identity(ctx.operation) or "none"


@schemathesis.auth(refresh_interval=240, retry_on=[401], cache_by_key=_cache_key)
class PortcullisAuth:
    def get(self, case, ctx):
        identity = _identity(ctx.operation)
        if identity is None:
            return "none"
        if identity == "client":
            pair = f"{_env('PORTCULLIS_FUZZ_CLIENT_ID')}:{_env('PORTCULLIS_FUZZ_CLIENT_SECRET')}"
            return "Basic " + base64.b64encode(pair.encode()).decode()
        if identity == "service":
            return "Bearer " + _service_token()
        return "Bearer " + _account_token(identity)

    def set(self, case, data, ctx):
        if data != "none":
            case.headers["Authorization"] = data


def _names_protected(case):
    text = json.dumps([case.path_parameters, case.query, case.body], default=str)
    return any(value in text for value in _protected_values())


@schemathesis.hook
def filter_case(context, case):
    if case.method.upper() != "GET" and _names_protected(case):
        _count("dropped: names the run's own credentials")
        return False
    return True


def _changes_realm(case, realm):
    return (
        case.operation.path == "/api/v1/realms/{realm}"
        and case.method.upper() in ("PATCH", "DELETE")
        and (case.path_parameters or {}).get("realm") == realm
    )


@schemathesis.hook
def map_case(context, case):
    if _changes_realm(case, _env("PORTCULLIS_REALM")):
        case.path_parameters["realm"] = _env("PORTCULLIS_FUZZ_SCRATCH_REALM")
        _count("redirected: changes the run's realm")
    return case


@schemathesis.hook
def before_call(context, case, kwargs):
    scratch = _env("PORTCULLIS_FUZZ_SCRATCH_REALM")
    if _changes_realm(case, scratch):
        response = _request(
            "POST",
            "/api/v1/realms",
            headers={"Authorization": f"Bearer {_own_service_token()}"},
            json={"name": scratch},
        )
        if response.status_code == 201:
            _count("scratch realm created")
