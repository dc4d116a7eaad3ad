//! The Workspace tree: directories, raw file upload, notebooks, listing, export, delete, and the
//! documented error for each case.

use crate::common::*;
use bytes::Bytes;
use kiln_databricks::Error;
use kiln_databricks::api::workspace::{Format, Import, Language, ObjectType};

fn home(emu: &kiln_emulator::RunningEmulator) -> String {
    format!("/Users/{}", emu.user_email())
}

#[tokio::test]
async fn upload_list_download_delete() {
    let emu = emulator().await;
    let ws = user(&emu);
    let ws = ws.workspace();
    let root = format!("{}/proj", home(&emu));
    ws.mkdirs(&format!("{root}/src")).await.unwrap();
    ws.mkdirs(&format!("{root}/src")).await.unwrap(); // idempotent
    let body = Bytes::from_static(b"fn main() {}\n");
    ws.import_file(&format!("{root}/src/main.rs"), body.clone(), false)
        .await
        .unwrap();
    // The /Workspace prefix addresses the same tree; odd characters survive the URL.
    ws.import_file(
        &format!("/Workspace{root}/notes #1 (draft) ü.txt"),
        Bytes::from_static(b"hi"),
        false,
    )
    .await
    .unwrap();

    let st = ws.get_status(&format!("{root}/src/main.rs")).await.unwrap();
    assert_eq!(st.object_type, Some(ObjectType::File));
    assert_eq!(st.size, Some(body.len() as i64));
    let dir = ws.get_status(&root).await.unwrap();
    assert!(dir.is_directory());

    let mut names: Vec<String> = ws
        .list(&root)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            format!("{root}/notes #1 (draft) ü.txt"),
            format!("{root}/src")
        ]
    );
    assert_eq!(
        emu.workspace_file(&format!("{root}/notes #1 (draft) ü.txt"))
            .unwrap(),
        b"hi"
    );

    let exported = ws
        .export(&format!("{root}/src/main.rs"), Format::Auto)
        .await
        .unwrap();
    assert_eq!(exported.content, body);

    ws.import_file(
        &format!("{root}/src/main.rs"),
        Bytes::from_static(b"v2"),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        ws.export(&format!("{root}/src/main.rs"), Format::Raw)
            .await
            .unwrap()
            .content,
        b"v2"
    );

    // direct_download: the bytes as they are, beyond the 10 MB JSON export limit too.
    let big = Bytes::from(vec![7u8; (10 << 20) + 5]);
    ws.import_file(&format!("{root}/big.bin"), big.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        ws.export_raw(&format!("{root}/big.bin")).await.unwrap(),
        big
    );
    assert!(
        ws.export_raw(&format!("{root}/absent"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    let err = ws.delete(&root, false).await.unwrap_err();
    assert_eq!(err.error_code(), Some("DIRECTORY_NOT_EMPTY"), "{err:?}");
    assert!(matches!(err, Error::InvalidParameter(_)));
    ws.delete(&root, true).await.unwrap();
    let err = ws.get_status(&root).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("doesn't exist"), "{err}");
    let err = ws.delete(&root, true).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = ws.list(&root).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn import_file_error_matrix() {
    let emu = emulator().await;
    let client = user(&emu);
    let ws = client.workspace();
    let root = format!("{}/matrix", home(&emu));
    // Missing parent: 404.
    let err = ws
        .import_file(&format!("{root}/a/b.txt"), Bytes::from_static(b"x"), true)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    ws.mkdirs(&root).await.unwrap();
    ws.import_file(&format!("{root}/b.txt"), Bytes::from_static(b"x"), false)
        .await
        .unwrap();
    // Existing file without overwrite.
    let err = ws
        .import_file(&format!("{root}/b.txt"), Bytes::from_static(b"y"), false)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    // A .py with the notebook header becomes a notebook without the extension.
    let nb = Bytes::from_static(b"# Databricks notebook source\nprint(1)\n");
    ws.import_file(&format!("{root}/nb.py"), nb.clone(), false)
        .await
        .unwrap();
    let st = ws.get_status(&format!("{root}/nb")).await.unwrap();
    assert_eq!(st.object_type, Some(ObjectType::Notebook));
    // Over an existing notebook: 400 with an empty error_code, still "already exists".
    let err = ws
        .import_file(&format!("{root}/nb.py"), nb.clone(), false)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    assert_eq!(err.status(), Some(400));
    // mkdirs over a file.
    let err = ws.mkdirs(&format!("{root}/b.txt/sub")).await.unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    // Paths the client refuses to put in a URL.
    let err = ws
        .import_file(&format!("{root}/../../x"), Bytes::new(), true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let err = ws
        .import_file("relative/x", Bytes::new(), true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn json_import_of_a_notebook_and_export() {
    let emu = emulator().await;
    let client = user(&emu);
    let ws = client.workspace();
    let path = format!("{}/analysis", home(&emu));
    let import = Import {
        path: path.clone(),
        content: Bytes::from_static(b"print('hello')\n"),
        format: Format::Source,
        language: Some(Language::Python),
        overwrite: false,
    };
    ws.import(&import).await.unwrap();
    let st = ws.get_status(&path).await.unwrap();
    assert_eq!(st.object_type, Some(ObjectType::Notebook));
    assert_eq!(st.language.as_deref(), Some("PYTHON"));
    let exported = ws.export(&path, Format::Source).await.unwrap();
    assert!(String::from_utf8_lossy(&exported.content).contains("print('hello')"));
    let err = ws.import(&import).await.unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    ws.import(&Import {
        overwrite: true,
        ..import
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn other_users_folders_are_forbidden() {
    let emu = emulator().await;
    emu.create_user("bob@example.com").unwrap();
    let err = user(&emu)
        .workspace()
        .import_file(
            "/Users/bob@example.com/x.txt",
            Bytes::from_static(b"x"),
            true,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(!err.is_auth_failure(), "{err}");
}
