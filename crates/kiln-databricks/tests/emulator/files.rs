//! The Files API on volumes: files up and down, metadata, directories, listing, errors.

use crate::common::*;
use bytes::Bytes;
use kiln_databricks::Error;

const DIR: &str = "/Volumes/main/agents/scripts";

#[tokio::test]
async fn files_round_trip() {
    let emu = emulator().await;
    let client = user(&emu);
    let files = client.files();
    let path = format!("{DIR}/nested/init script.sh");
    let body = Bytes::from_static(b"#!/bin/bash\necho hi\n");
    files.upload(&path, body.clone(), true).await.unwrap();
    assert_eq!(emu.volume_file(&path).unwrap(), body);
    assert_eq!(files.download(&path).await.unwrap(), body);
    let meta = files.metadata(&path).await.unwrap();
    assert_eq!(meta.content_length, Some(body.len() as u64));
    assert!(meta.last_modified.is_some());

    let err = files
        .upload(&path, Bytes::from_static(b"x"), false)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    assert_eq!(
        logged(
            &emu,
            "PUT",
            "/api/2.0/fs/files/Volumes/main/agents/scripts/nested/init%20script.sh"
        )
        .len(),
        2
    );
    files
        .upload(&path, Bytes::from_static(b"v2"), true)
        .await
        .unwrap();
    assert_eq!(
        files.download(&path).await.unwrap(),
        Bytes::from_static(b"v2")
    );

    files.delete(&path).await.unwrap();
    let err = files.download(&path).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(
        err.api_error().unwrap().reason.as_deref(),
        Some("FILES_API_FILE_NOT_FOUND")
    );
    assert!(files.metadata(&path).await.unwrap_err().is_not_found());
    assert!(files.delete(&path).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn directories() {
    let emu = emulator().await;
    let client = user(&emu);
    let files = client.files();
    let dir = format!("{DIR}/d1/d2");
    assert!(!files.directory_exists(&dir).await.unwrap());
    files.create_directory(&dir).await.unwrap();
    files.create_directory(&dir).await.unwrap(); // idempotent
    assert!(files.directory_exists(&dir).await.unwrap());
    files
        .upload(&format!("{DIR}/d1/a.txt"), Bytes::from_static(b"a"), true)
        .await
        .unwrap();

    let mut entries = files.list_directory(&format!("{DIR}/d1")).await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let shape: Vec<(String, bool)> = entries
        .iter()
        .map(|e| (e.name.clone(), e.is_directory))
        .collect();
    assert_eq!(shape, vec![("a.txt".into(), false), ("d2".into(), true)]);
    assert_eq!(entries[0].file_size, Some(1));
    assert_eq!(entries[0].path, format!("{DIR}/d1/a.txt"));

    let err = files
        .delete_directory(&format!("{DIR}/d1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
    assert_eq!(
        err.api_error().unwrap().reason.as_deref(),
        Some("FILES_API_DIRECTORY_IS_NOT_EMPTY")
    );
    files.delete_directory(&dir).await.unwrap();
    let err = files.list_directory(&dir).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = files
        .create_directory(&format!("{DIR}/d1/a.txt"))
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
}

#[tokio::test]
async fn bad_paths() {
    let emu = emulator().await;
    let client = user(&emu);
    let err = client
        .files()
        .upload("/Volumes/main/../x", Bytes::new(), true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let err = client
        .files()
        .upload("/Users/alice/x", Bytes::new(), true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter(_)),
        "server refuses non-volume paths: {err:?}"
    );
}
