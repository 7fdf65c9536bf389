//! Shell-style patterns over model strings: `*` any run, `?` one character, case-insensitive
//! (vendors are not consistent about case, and nobody means "SAMSUNG" to differ from "Samsung").

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("Samsung SSD 990 PRO*", "Samsung SSD 990 PRO 4TB"));
        assert!(matches(
            "samsung ssd 990 evo plus 2tb",
            "Samsung SSD 990 EVO Plus 2TB"
        ));
        assert!(matches("WD_BLACK SN770*2TB", "WD_BLACK SN770 NVMe SSD 2TB"));
        assert!(matches("*", ""));
        assert!(matches("S?TA*", "S2TA0001"));
        assert!(!matches("Samsung SSD 990 PRO*", "Samsung SSD 980 PRO 2TB"));
        assert!(!matches("a*b", "acbd"));
        assert!(matches("a*b*c", "aXbYbZc"));
    }
}
