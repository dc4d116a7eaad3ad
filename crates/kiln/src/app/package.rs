//! `kiln app package --out DIR`: the app source as a directory, to commit to a Git repository
//! and create the app from it in the Databricks UI. Only kiln's own files are written: an
//! existing `app.yaml` that kiln did not write is refused rather than replaced, other files in
//! DIR are left alone, and parts of an earlier package that the new binary does not need are
//! removed.

use super::error::AppError;
use super::source::{APP_YAML_HEADER, AppSource, PARTS_DIR};
use std::fs;
use std::path::Path;

fn io(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes `source` into `out` (created when missing).
pub fn write(source: &AppSource, out: &Path) -> Result<(), AppError> {
    let app_yaml = out.join("app.yaml");
    match fs::read_to_string(&app_yaml) {
        Ok(text) if !text.starts_with(APP_YAML_HEADER) => {
            return Err(AppError::Usage(format!(
                "{} exists and was not written by kiln; move it away or choose another --out \
                 (kiln never overwrites a file it did not write)",
                app_yaml.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read", &app_yaml, e)),
    }
    let parts = out.join(PARTS_DIR);
    fs::create_dir_all(&parts).map_err(|e| io("create", &parts, e))?;
    // Parts of an earlier package (kiln.gz.NN) that this one does not have.
    if let Ok(entries) = fs::read_dir(&parts) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{PARTS_DIR}/{name}");
            if name.starts_with("kiln.gz.") && !source.files.iter().any(|f| f.path == rel) {
                fs::remove_file(entry.path()).map_err(|e| io("remove", &entry.path(), e))?;
            }
        }
    }
    for f in &source.files {
        let path = out.join(&f.path);
        let tmp = out.join(format!("{}.kiln-tmp", f.path));
        fs::write(&tmp, &f.content).map_err(|e| io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io("write", &path, e))?;
    }
    Ok(())
}
