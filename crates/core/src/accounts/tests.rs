use super::tokens::is_issuer_of;

#[test]
fn issuer_matching_is_exact() {
    let base = "https://id.example.com";
    assert!(is_issuer_of(
        "https://id.example.com/realms/main",
        base,
        "main"
    ));
    assert!(!is_issuer_of(
        "https://id.example.com/realms/main2",
        base,
        "main"
    ));
    assert!(!is_issuer_of(
        "https://id.example.com/realms/mai",
        base,
        "main"
    ));
    assert!(!is_issuer_of(
        "https://evil.example.com/realms/main",
        base,
        "main"
    ));
    assert!(!is_issuer_of(
        "https://id.example.com.evil/realms/main",
        base,
        "main"
    ));
    assert!(!is_issuer_of(
        "https://id.example.com/realms/main/x",
        base,
        "main"
    ));
}
