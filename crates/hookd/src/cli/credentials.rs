//! What `hookd login` saves: one server and its token, in the user's config
//! directory (`$XDG_CONFIG_HOME/hookd/credentials.json`), readable by the user alone.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::client::{CliError, CliResult};

#[derive(Serialize, Deserialize)]
pub struct Credentials {
    pub url: String,
    pub token: String,
}

fn path() -> Option<PathBuf> {
    Some(dirs::config_dir()?.join("hookd").join("credentials.json"))
}

impl Credentials {
    /// The saved credentials; none when there are none or they cannot be read.
    pub fn load() -> Option<Credentials> {
        let text = std::fs::read_to_string(path()?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Saves them, the file made with mode 0600 (its directory 0700) before
    /// the token is written into it.
    pub fn save(&self) -> CliResult<PathBuf> {
        let path = path().ok_or_else(|| CliError::Usage("no config directory: set XDG_CONFIG_HOME".into()))?;
        let dir = path.parent().expect("a file in a directory");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        #[cfg(unix)]
        {
            // An older file keeps its mode through `open`: narrow it too.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(serde_json::to_string_pretty(self).expect("serialises").as_bytes())?;
        Ok(path)
    }

    /// Forgets them; true when there was something to forget.
    pub fn remove() -> CliResult<bool> {
        let Some(path) = path() else { return Ok(false) };
        match std::fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
