//! OpenSSH's allowed_signers file, the trust anchor `ssh-keygen -Y verify -f FILE` reads, read
//! the way OpenSSH reads it (ssh-keygen(1) "ALLOWED SIGNERS"; sshsig.c
//! parse_principals_key_and_options and check_allowed_keys_line, match.c match_pattern_list),
//! so that one file serves both tools:
//!
//! ```text
//! # comment
//! pve-a,pve-a.example.org ssh-ed25519 AAAA... root@pve-a
//! pve-* namespaces="phoenix-zfs-manifest",valid-before="20271231Z" ssh-ed25519 AAAA...
//! ```
//!
//! Principals are a comma-separated list of patterns (`*`, `?`, `!` to exclude), optionally in
//! double quotes; options (`cert-authority`, `namespaces="..."`, `valid-after="..."`,
//! `valid-before="..."`) may precede the key. ssh-keygen reports a malformed line only when it
//! reaches it for the principal asked about; every line is checked here, since a trust anchor
//! with a line no tool can read is a mistake worth hearing about at once.

use ssh_key::{HashAlg, PublicKey};

/// The key types OpenSSH's sshkey_read knows (sshkey.c keyimpls): a first word that is none of
/// these starts the options.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-dss-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// One line that names a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    /// The comma-separated principal patterns, as written (quotes removed).
    pub principals: String,
    pub cert_authority: bool,
    /// Namespace patterns the key may sign in; None: any.
    pub namespaces: Option<String>,
    /// Seconds since the epoch.
    pub valid_after: Option<u64>,
    pub valid_before: Option<u64>,
    /// The key's wire encoding, compared byte for byte with a signature's key, as sshkey_equal does.
    pub key: Vec<u8>,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigners {
    /// The file as the user named it, for messages.
    pub source: String,
    pub entries: Vec<Entry>,
}

/// A line the parser cannot read: `FILE:LINE: what, the line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}; a line is `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]` (ssh-keygen(1), ALLOWED SIGNERS)")]
pub struct ParseError {
    /// The file as the user named it.
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl AllowedSigners {
    pub fn parse(source: &str, text: &str) -> Result<AllowedSigners, ParseError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches([' ', '\t', '\r']);
            if line.is_empty() || line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let entry = parse_line(line, i + 1).map_err(|message| ParseError {
                file: source.to_string(),
                line: i + 1,
                message,
            })?;
            entries.push(entry);
        }
        Ok(AllowedSigners {
            source: source.to_string(),
            entries,
        })
    }

    /// The line that allows `signer` to sign in `namespace` as `principal` at `now` (seconds since
    /// the epoch), as ssh-keygen -Y verify decides it: the first line whose principals match,
    /// that is not a certificate authority (a manifest is signed by a plain key), whose key is
    /// the signer and whose options admit the namespace and the time. Otherwise why not.
    pub fn allows(
        &self,
        principal: &str,
        signer: &PublicKey,
        namespace: &str,
        now: u64,
    ) -> Result<&Entry, String> {
        let wanted = signer.to_bytes().unwrap_or_default();
        let signer_fp = signer.fingerprint(HashAlg::Sha256).to_string();
        let for_principal: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| match_pattern_list(principal, &e.principals) == 1)
            .collect();
        let mut refusals = Vec::new();
        for entry in &for_principal {
            if entry.cert_authority || entry.key != wanted {
                continue;
            }
            if let Some(namespaces) = &entry.namespaces {
                if match_pattern_list(namespace, namespaces) != 1 {
                    refusals.push(format!(
                        "line {} allows it only for namespaces \"{namespaces}\", not {namespace}",
                        entry.line
                    ));
                    continue;
                }
            }
            if entry.valid_after.is_some_and(|t| now < t) {
                refusals.push(format!(
                    "line {} allows it only later (valid-after)",
                    entry.line
                ));
                continue;
            }
            if entry.valid_before.is_some_and(|t| now > t) {
                refusals.push(format!(
                    "line {} allowed it until a time now past (valid-before)",
                    entry.line
                ));
                continue;
            }
            return Ok(entry);
        }
        let listed: Vec<String> = for_principal
            .iter()
            .filter(|e| !e.cert_authority && e.key != wanted)
            .map(|e| format!("{} (line {})", e.fingerprint, e.line))
            .collect();
        let mut why = if for_principal.is_empty() {
            format!("{} lists no key for host {principal}", self.source)
        } else if listed.is_empty() && refusals.is_empty() {
            format!(
                "{} has only certificate authorities for host {principal}, and the signer {signer_fp} is a plain key",
                self.source
            )
        } else {
            let mut parts = Vec::new();
            if !listed.is_empty() {
                parts.push(format!(
                    "the signer {signer_fp} is not the key {} lists for host {principal}: {}",
                    self.source,
                    listed.join(", ")
                ));
            }
            if !refusals.is_empty() {
                parts.push(format!(
                    "{} lists the signer {signer_fp} for host {principal}, but {}",
                    self.source,
                    refusals.join("; ")
                ));
            }
            parts.join("; ")
        };
        let elsewhere: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.key == wanted && match_pattern_list(principal, &e.principals) != 1)
            .map(|e| format!("line {} ({})", e.line, e.principals))
            .collect();
        if !elsewhere.is_empty() {
            why.push_str(&format!(
                "; the signer is listed for other principals: {}",
                elsewhere.join(", ")
            ));
        }
        Err(why)
    }
}

fn parse_line(line: &str, number: usize) -> Result<Entry, String> {
    let (principals, rest) = principals_token(line)?;
    if principals.is_empty() {
        return Err("the principals are empty".into());
    }
    let first_word = rest.split([' ', '\t']).next().unwrap_or("");
    let (options, key_text) = if KEY_TYPES.contains(&first_word) {
        ("", rest)
    } else {
        let end = options_end(rest)?;
        let (options, key) = rest.split_at(end);
        (options, key.trim_start_matches([' ', '\t']))
    };
    if key_text.is_empty() {
        return Err(format!("no key after the principals `{principals}`"));
    }
    let mut words = key_text.split_whitespace();
    let (kind, base64) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if !KEY_TYPES.contains(&kind) {
        return Err(format!(
            "`{kind}` is not a key type OpenSSH knows (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...)"
        ));
    }
    if kind.contains("-cert-v01@") {
        return Err(format!(
            "`{kind}` is a certificate: name the certificate authority's plain key with cert-authority"
        ));
    }
    let key = key_blob(kind, base64)
        .map_err(|why| format!("the {kind} key `{}` cannot be read: {why}", excerpt(base64)))?;
    let mut entry = Entry {
        line: number,
        principals,
        cert_authority: false,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        fingerprint: fingerprint(&key),
        key,
    };
    parse_options(options, &mut entry)?;
    Ok(entry)
}

/// The key's wire encoding from its base64 text, checked as far as sshkey_from_blob starts: the
/// encoding's own type name agrees with the line's. Only Ed25519 keys ever sign a manifest, so
/// other kinds are compared as bytes, never decoded: the ECDSA and RSA parsers of ssh-key would
/// cost the first-boot hook bytes for keys that can only ever fail to match.
fn key_blob(kind: &str, base64: &str) -> Result<Vec<u8>, String> {
    use base64ct::{Base64, Encoding};
    let blob = Base64::decode_vec(base64).map_err(|_| "it is not base64".to_string())?;
    let name = blob
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|len| blob.get(4..4 + len))
        .and_then(|name| std::str::from_utf8(name).ok())
        .ok_or("it is too short to name its type")?;
    // rsa-sha2-256/512 name a signature algorithm; the key inside is still an ssh-rsa key.
    let expected = if kind.starts_with("rsa-sha2-") {
        "ssh-rsa"
    } else {
        kind
    };
    if name != expected {
        return Err(format!("it encodes a {name} key"));
    }
    Ok(blob)
}

/// OpenSSH's SHA256 fingerprint of a key's wire encoding, as `ssh-keygen -l` prints it.
pub fn fingerprint(blob: &[u8]) -> String {
    use base64ct::{Base64Unpadded, Encoding};
    use sha2::{Digest, Sha256};
    format!(
        "SHA256:{}",
        Base64Unpadded::encode_string(&Sha256::digest(blob))
    )
}

/// The first word, as misc.c strdelimw reads it: up to whitespace, or with a double quote
/// removed and everything up to the closing one kept. Then the rest, leading blanks skipped.
fn principals_token(line: &str) -> Result<(String, &str), String> {
    let Some(stop) = line.find([' ', '\t', '"']) else {
        return Err(format!(
            "`{}` has no key after the principals",
            excerpt(line)
        ));
    };
    let (token, rest) = if line[stop..].starts_with('"') {
        let after = &line[stop + 1..];
        let close = after
            .find('"')
            .ok_or_else(|| "the principals' opening quote has no closing one".to_string())?;
        let rest = &after[close + 1..];
        // OpenSSH takes what follows the quote as options, and fails on a principal there.
        if rest.starts_with(',') {
            return Err(
                "a comma follows the principals' closing quote: quote the whole list (\"pve-a,pve-b\")"
                    .into(),
            );
        }
        (format!("{}{}", &line[..stop], &after[..close]), rest)
    } else {
        (line[..stop].to_string(), &line[stop + 1..])
    };
    Ok((token, rest.trim_start_matches([' ', '\t'])))
}

/// Where the options end, as sshkey_advance_past_options finds it: at the first blank outside
/// double quotes (`\"` inside quotes is an escaped quote).
fn options_end(text: &str) -> Result<usize, String> {
    let bytes = text.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() && (quoted || (bytes[i] != b' ' && bytes[i] != b'\t')) {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if bytes[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err(format!(
            "the options `{}` have an unterminated quote",
            excerpt(text)
        ));
    }
    Ok(i)
}

/// sshsig.c sshsigopt_parse: comma-separated, names case-insensitive, each once.
fn parse_options(mut text: &str, entry: &mut Entry) -> Result<(), String> {
    while !text.is_empty() {
        let name_end = text.find([',', '=']).unwrap_or(text.len());
        let name = text[..name_end].to_ascii_lowercase();
        if name == "cert-authority" && !text[name_end..].starts_with('=') {
            entry.cert_authority = true;
            text = &text[name_end..];
        } else if matches!(name.as_str(), "namespaces" | "valid-after" | "valid-before")
            && text[name_end..].starts_with('=')
        {
            let (value, rest) = dequote(&text[name_end + 1..])
                .ok_or_else(|| format!("option {name} needs a value in double quotes"))?;
            text = rest;
            let slot_taken = match name.as_str() {
                "namespaces" => entry.namespaces.replace(value).is_some(),
                "valid-after" => entry.valid_after.replace(timestamp(&value)?).is_some(),
                _ => entry.valid_before.replace(timestamp(&value)?).is_some(),
            };
            if slot_taken {
                return Err(format!("option {name} is given twice"));
            }
        } else {
            return Err(format!(
                "option `{}` is not one ssh-keygen -Y verify knows (cert-authority, namespaces=\"...\", valid-after=\"...\", valid-before=\"...\")",
                excerpt(&text[..name_end.max(1).min(text.len())])
            ));
        }
        match text.strip_prefix(',') {
            Some(rest) if !rest.is_empty() => text = rest,
            Some(_) => return Err("the options end in a comma".into()),
            None if text.is_empty() => {}
            None => return Err(format!("unexpected `{}` after an option", excerpt(text))),
        }
    }
    Ok(())
}

/// auth-options.c opt_dequote: `"value"` with `\"` for a quote inside; the value and what
/// follows the closing quote.
fn dequote(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if inner[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            '"' => return Some((value, &inner[i + 1..])),
            c => value.push(c),
        }
    }
    None
}

/// `YYYYMMDD[HHMM[SS]][Z]` as seconds since the epoch (misc.c parse_absolute_time). OpenSSH
/// reads a time without `Z` as local time; phoenix-zfs reads it as UTC, the time zone of the
/// Proxmox hosts it runs on: write `Z` for a file both read alike everywhere.
fn timestamp(text: &str) -> Result<u64, String> {
    let digits = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let bad = || format!("`{text}` is not a time: write YYYYMMDD[HHMM[SS]][Z], e.g. 20271231Z");
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |range: std::ops::Range<usize>| {
        digits
            .get(range)
            .map_or(0, |d| d.parse::<u64>().unwrap_or(0))
    };
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    let (hour, minute, second) = (field(8..10), field(10..12), field(12..14));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400)
        .map_err(|_| bad())
        .map(|s| s + hour * 3600 + minute * 60 + second)
}

/// match.c match_pattern_list: 1 when a pattern of the comma-separated list matches, -1 when a
/// `!`-negated one does (which wins), 0 otherwise. Case-sensitive, as for principals.
pub fn match_pattern_list(text: &str, list: &str) -> i8 {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if match_pattern(text.as_bytes(), pattern.as_bytes()) {
            if negated {
                return -1;
            }
            positive = true;
        }
    }
    i8::from(positive)
}

/// match.c match_pattern: `*` any run, `?` any one character, all else literal.
fn match_pattern(text: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| match_pattern(&text[skip..], rest)),
        Some((b'?', rest)) => !text.is_empty() && match_pattern(&text[1..], rest),
        Some((c, rest)) => text.first() == Some(c) && match_pattern(&text[1..], rest),
    }
}

/// The start of `text`, for a message.
fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    fn key_a() -> PublicKey {
        PublicKey::from_openssh(KEY_A).unwrap()
    }

    #[test]
    fn patterns_match_as_openssh_does() {
        assert_eq!(match_pattern_list("pve-a", "pve-a"), 1);
        assert_eq!(match_pattern_list("pve-a", "pve-*"), 1);
        assert_eq!(match_pattern_list("pve-a", "pve-?"), 1);
        assert_eq!(match_pattern_list("pve-ab", "pve-?"), 0);
        assert_eq!(match_pattern_list("pve-a", "web,pve-a"), 1);
        assert_eq!(match_pattern_list("pve-a", "pve-*,!pve-a"), -1);
        assert_eq!(match_pattern_list("PVE-A", "pve-a"), 0);
        assert_eq!(match_pattern_list("pve-a", "*"), 1);
    }

    #[test]
    fn lines_with_options_quotes_and_comments_are_read() {
        let text = format!(
            "# fleet\n\n  pve-a {KEY_A} root@pve-a\npve-b,\"pve-c\" namespaces=\"phoenix-zfs-manifest,git\",valid-before=\"20991231Z\" {KEY_A}\npve-* cert-authority {KEY_A}\n"
        );
        let signers = AllowedSigners::parse("fleet", &text).unwrap();
        let lines: Vec<usize> = signers.entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert_eq!(signers.entries[1].principals, "pve-b,pve-c");
        assert_eq!(
            signers.entries[1].namespaces.as_deref(),
            Some("phoenix-zfs-manifest,git")
        );
        assert_eq!(signers.entries[1].valid_before, Some(4102358400));
        assert!(signers.entries[2].cert_authority);
        let now = 1_800_000_000;
        let ns = "phoenix-zfs-manifest";
        assert_eq!(signers.allows("pve-a", &key_a(), ns, now).unwrap().line, 3);
        assert_eq!(signers.allows("pve-c", &key_a(), ns, now).unwrap().line, 4);
        // The certificate authority line never admits a plain key.
        let why = signers.allows("pve-d", &key_a(), ns, now).unwrap_err();
        assert!(why.contains("certificate authorities"), "{why}");
        assert!(why.contains("line 3 (pve-a)"), "{why}");
        // Another namespace, or past valid-before.
        let why = signers.allows("pve-b", &key_a(), "file", now).unwrap_err();
        assert!(why.contains("only for namespaces"), "{why}");
        let why = signers
            .allows("pve-b", &key_a(), ns, 4_200_000_000)
            .unwrap_err();
        assert!(why.contains("valid-before"), "{why}");
        assert!(signers
            .allows("web", &key_a(), ns, now)
            .unwrap_err()
            .contains("lists no key for host web"));
    }

    #[test]
    fn another_key_for_the_host_is_named() {
        let other =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBtq8pS+oFa5wHGL9SeSEkQjXjeScHzGGt87/sF7U+Ol";
        let signers = AllowedSigners::parse("fleet", &format!("pve-a {other}\n")).unwrap();
        let why = signers.allows("pve-a", &key_a(), NS, 0).unwrap_err();
        assert!(
            why.contains("is not the key fleet lists for host pve-a"),
            "{why}"
        );
        assert!(why.contains("(line 1)"), "{why}");
    }

    const NS: &str = "phoenix-zfs-manifest";

    #[test]
    fn a_bad_line_is_named_with_what_is_wrong() {
        let cases = [
            ("pve-a\n", "no key after the principals"),
            ("pve-a ssh-ed25519 AAAA\n", "cannot be read"),
            (
                &format!("pve-a nope=\"x\" {KEY_A}\n") as &str,
                "is not one ssh-keygen -Y verify knows",
            ),
            (&format!("pve-a namespaces=x {KEY_A}\n"), "double quotes"),
            (
                &format!("pve-a namespaces=\"x {KEY_A}\n"),
                "unterminated quote",
            ),
            (&format!("\"pve-a {KEY_A}\n"), "no closing one"),
            (
                &format!("\"pve-a\",pve-b {KEY_A}\n"),
                "quote the whole list",
            ),
            (
                &format!("pve-a valid-after=\"2027\" {KEY_A}\n"),
                "is not a time",
            ),
            (
                &format!("pve-a namespaces=\"a\",namespaces=\"b\" {KEY_A}\n"),
                "given twice",
            ),
            ("pve-a ssh-foo AAAA\n", "not a key type"),
        ];
        for (text, expected) in cases {
            let text = format!("# header\n{text}");
            let err = AllowedSigners::parse("signers", &text).unwrap_err();
            assert_eq!(err.line, 2, "{err}");
            assert!(err.to_string().starts_with("signers:2: "), "{err}");
            assert!(err.message.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        assert_eq!(timestamp("19700101"), Ok(0));
        assert_eq!(timestamp("20000301Z"), Ok(951868800));
        assert_eq!(timestamp("202701011230Z"), Ok(1798806600));
        assert_eq!(timestamp("20270101123000"), Ok(1798806600));
        assert!(timestamp("20271301").is_err());
    }
}
