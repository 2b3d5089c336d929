//! Entity tags of get-chat pages. A tag names the page's conversation (its root chat id) and
//! carries a MAC over what fixes the page: the chat, its conversation's `version` (which every
//! change to the tree moves), and the page's parameters. Revalidating one is then a single
//! read of the conversation's `_id` — no chat, no message — and the MAC (keyed from the JWT
//! secret, so every instance agrees) means only tags this service issued are honoured.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub struct Tagger {
    key: [u8; 32],
}

impl Tagger {
    /// A key of its own, derived from the signing secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(b"chat-backend entity tags");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// The tag of the page `limit` messages before `before` (`None`: the newest) of
    /// `chat_id`, a member of conversation `root` at `version`.
    pub fn page(
        &self,
        chat_id: &str,
        root: &str,
        version: i64,
        before: Option<i64>,
        limit: i64,
    ) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        let before = before.map_or_else(|| "end".to_owned(), |b| b.to_string());
        let parts = [
            crate::http::FORMAT,
            chat_id,
            root,
            &version.to_string(),
            &before,
            &limit.to_string(),
        ];
        for part in parts {
            // Length-prefixed, so that no two lists of parts run together alike.
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        format!("\"{root}.{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]))
    }
}

/// The conversation an offered tag names, if it is shaped like one of ours (a UUID, a dot,
/// the MAC); a quoted or `W/` tag as it comes in `If-None-Match`.
pub fn root_named(tag: &str) -> Option<&str> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    let (root, _mac) = tag.strip_prefix('"')?.strip_suffix('"')?.split_once('.')?;
    let uuid_like = root.len() == 36 && root.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    uuid_like.then_some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "6f1c2a4e-3b8d-4c52-9a51-0d9c1e7b2f10";

    #[test]
    fn a_tag_names_its_conversation_and_changes_with_anything_that_fixes_the_page() {
        let tagger = Tagger::new(b"secret-secret-secret-secret-secret");
        let tag = tagger.page("chat", ROOT, 3, None, 100);
        assert_eq!(root_named(&tag), Some(ROOT));
        assert_eq!(root_named(&format!("W/{tag}")), Some(ROOT));
        assert_eq!(tag, tagger.page("chat", ROOT, 3, None, 100));
        for other in [
            tagger.page("other", ROOT, 3, None, 100),
            tagger.page("chat", ROOT, 4, None, 100),
            tagger.page("chat", ROOT, 3, Some(100), 100),
            tagger.page("chat", ROOT, 3, None, 10),
            Tagger::new(b"another-secret-another-secret-another").page("chat", ROOT, 3, None, 100),
        ] {
            assert_ne!(tag, other);
        }
        for foreign in ["*", "\"abc\"", "\"x.y\"", &format!("{ROOT}.abc")] {
            assert_eq!(root_named(foreign), None, "{foreign}");
        }
    }
}
