//! The admin token: made by the relay on first start, kept in its data folder readable by its
//! owner only, shown once, replaced on `--rotate-admin-token`. Never a password in the code.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// The file the token is kept in, inside the relay's data folder.
pub(crate) const TOKEN_FILE: &str = "admin-token";
/// What every token starts with, so that one found in a log or a chat is recognised.
const PREFIX: &str = "fca_";

/// Why the token could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read, written or protected.
    #[error("admin token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file holds something that is not a token (edited by hand?).
    #[error(
        "admin token file {0} does not hold a token; delete it or start with --rotate-admin-token"
    )]
    Invalid(PathBuf),
}

/// The relay's admin token.
#[derive(Clone)]
pub(crate) struct AdminToken {
    token: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminToken({})", self.id())
    }
}

impl AdminToken {
    /// The token in `dir`, made (or replaced, with `rotate`) when needed. The second value is
    /// the token when it was just made, to be shown once.
    pub(crate) fn load_or_create(dir: &Path, rotate: bool) -> Result<(Self, bool), TokenError> {
        let path = dir.join(TOKEN_FILE);
        let io = |source| TokenError::Io {
            path: path.clone(),
            source,
        };
        if !rotate {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let token = text.trim().to_owned();
                    if !is_well_formed(&token) {
                        return Err(TokenError::Invalid(path));
                    }
                    // Someone may have loosened it; a token others can read is no token.
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(io)?;
                    return Ok((Self { token }, false));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let id: [u8; 4] = rand::random();
        let secret: [u8; 24] = rand::random();
        let token = format!("{PREFIX}{}_{}", hex(&id), hex(&secret));
        // Written beside it first, then moved over it: never a half-written token file.
        let fresh = dir.join(format!("{TOKEN_FILE}.new"));
        let _ = std::fs::remove_file(&fresh);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&fresh)
            .map_err(io)?;
        file.write_all(format!("{token}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        std::fs::rename(&fresh, &path).map_err(io)?;
        Ok((Self { token }, true))
    }

    /// The token's public part, for logs and the audit log: never the secret.
    pub(crate) fn id(&self) -> &str {
        self.token
            .get(PREFIX.len()..PREFIX.len() + 8)
            .unwrap_or("unknown")
    }

    /// The token itself, to be shown once.
    pub(crate) fn reveal(&self) -> &str {
        &self.token
    }

    /// Whether `offered` is the token, in time that does not depend on where they differ.
    pub(crate) fn matches(&self, offered: &str) -> bool {
        bool::from(self.token.as_bytes().ct_eq(offered.as_bytes()))
    }
}

fn is_well_formed(token: &str) -> bool {
    token.len() == PREFIX.len() + 8 + 1 + 48
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '_')
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_kept_private_and_rotated_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let (first, made) = AdminToken::load_or_create(dir.path(), false).unwrap();
        assert!(made);
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, made) = AdminToken::load_or_create(dir.path(), false).unwrap();
        assert!(!made, "shown once: the second start does not show it");
        assert!(again.matches(first.reveal()));
        let (rotated, made) = AdminToken::load_or_create(dir.path(), true).unwrap();
        assert!(made);
        assert!(!rotated.matches(first.reveal()));
        assert_ne!(rotated.id(), "unknown");
        assert!(!rotated.reveal().contains(' '));
    }

    #[test]
    fn only_the_exact_token_matches() {
        let dir = tempfile::tempdir().unwrap();
        let (token, _) = AdminToken::load_or_create(dir.path(), false).unwrap();
        let real = token.reveal().to_owned();
        assert!(token.matches(&real));
        for wrong in ["", "fca_", &real[..real.len() - 1], &format!("{real}0")] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
        let mut flipped = real.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(!token.matches(std::str::from_utf8(&flipped).unwrap()));
    }

    #[test]
    fn a_file_that_is_not_a_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKEN_FILE), "hunter2").unwrap();
        assert!(matches!(
            AdminToken::load_or_create(dir.path(), false),
            Err(TokenError::Invalid(_))
        ));
    }
}
