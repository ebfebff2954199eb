//! Loading the project from the global flags, through `pier-compose`.

use std::path::PathBuf;

use pier_compose::Project;

use crate::cli::ComposeArgs;
use crate::commands::CmdError;
use crate::output;

pub fn load(a: &ComposeArgs) -> Result<Project, CmdError> {
    let cwd = std::env::current_dir().map_err(|e| CmdError::new(1, e.to_string()))?;
    let stdin = if a.file.iter().any(|f| f == "-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CmdError::new(1, format!("reading the compose file from stdin: {e}")))?;
        Some(text)
    } else {
        None
    };
    let opts = pier_compose::LoadOptions {
        files: a.file.iter().map(PathBuf::from).collect(),
        project_name: a.project_name.clone(),
        project_directory: a.project_directory.as_ref().map(PathBuf::from),
        working_dir: cwd,
        env_files: a.env_file.iter().map(PathBuf::from).collect(),
        profiles: a.profile.clone(),
        environment: std::env::vars().collect(),
        stdin,
    };
    match pier_compose::load(&opts) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                output::errln(&format!("WARN[0000] {w}"));
            }
            Ok(loaded.project)
        }
        Err(e) => Err(CmdError::new(1, e.to_string())),
    }
}
