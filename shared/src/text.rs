//! What text a person can see. A chat name or question made only of characters that render as
//! nothing is blank, however many of them there are.

/// Code points that render as nothing: Unicode's Default_Ignorable_Code_Point set
/// (DerivedCoreProperties.txt, Unicode 15.1) plus U+2800 BRAILLE PATTERN BLANK, which is a
/// visible-width but empty glyph often used to fake a blank name.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Whether `c` shows nothing: white space or an invisible code point.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Whether a person would see nothing at all in `text`.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// A control character other than tab and newline: never part of a name.
pub fn is_forbidden_in_names(c: char) -> bool {
    c.is_control() && c != '\t' && c != '\n'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn invisible_characters_are_blank() {
        for blank in [
            "",
            " \t\n",
            "\u{200B}",
            "\u{2800}\u{2800}",
            "\u{3164}",
            "\u{00AD}",
            "\u{FEFF} \u{200D}",
            "\u{E0020}",
            "\u{3000}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for visible in ["a", " x ", "\u{200B}é", "😀", "\u{2801}", "0"] {
            assert!(!is_blank(visible), "{visible:?}");
        }
    }

    #[test]
    fn controls_are_refused_in_names_except_tab_and_newline() {
        assert!(is_forbidden_in_names('\u{0}'));
        assert!(is_forbidden_in_names('\u{1B}'));
        assert!(is_forbidden_in_names('\u{7F}'));
        assert!(is_forbidden_in_names('\u{85}'));
        assert!(!is_forbidden_in_names('\t'));
        assert!(!is_forbidden_in_names('\n'));
        assert!(!is_forbidden_in_names('a'));
    }

    fn invisible_char() -> impl Strategy<Value = char> {
        let ranges: Vec<_> = INVISIBLE
            .iter()
            .map(|&(lo, hi)| proptest::char::range(lo, hi).boxed())
            .chain([proptest::sample::select(vec![' ', '\t', '\n', '\u{3000}', '\u{A0}']).boxed()])
            .collect();
        proptest::strategy::Union::new(ranges)
    }

    proptest! {
        #[test]
        fn any_run_of_invisible_characters_is_blank(text in proptest::collection::vec(invisible_char(), 0..40)) {
            let text: String = text.into_iter().collect();
            prop_assert!(is_blank(&text));
        }

        #[test]
        fn one_visible_character_makes_text_not_blank(
            before in proptest::collection::vec(invisible_char(), 0..20),
            // Letters such as U+3164 HANGUL FILLER are invisible all the same.
            visible in "[\\p{L}\\p{N}\\p{P}\\p{S}]".prop_filter("visible", |s| !s.chars().any(is_invisible)),
            after in proptest::collection::vec(invisible_char(), 0..20),
        ) {
            let text: String = before.into_iter().chain(visible.chars()).chain(after).collect();
            prop_assert!(!is_blank(&text), "{:?}", text);
        }
    }
}
