//! The padded tables of `report` and `versus_report`: a header row, a rule, then the rows,
//! every column as wide as its widest cell, between Markdown pipes (readable as plain text).

/// An empty figure.
pub const DASH: &str = "-";

/// The `met` column: `yes`, `NO`, or empty where there is no target.
pub fn met(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "",
    }
}

/// The table of `head` and `rows`.
pub fn render<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut width = head.map(str::len);
    for r in rows {
        for (w, s) in width.iter_mut().zip(r) {
            *w = (*w).max(s.len());
        }
    }
    let line = |c: &[String]| {
        let parts: Vec<String> = c
            .iter()
            .zip(width)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        format!("| {} |\n", parts.join(" | "))
    };
    let mut out = line(&head.map(str::to_owned));
    out += &line(&width.map(|w| "-".repeat(w)));
    for r in rows {
        out += &line(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let t = render(
            ["a", "bb"],
            &[["long".to_owned(), met(Some(false)).to_owned()]],
        );
        assert_eq!(t, "| a    | bb |\n| ---- | -- |\n| long | NO |\n");
    }
}
