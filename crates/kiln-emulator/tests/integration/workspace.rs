//! Workspace API semantics and the documented error for each case: mkdirs, get-status, list,
//! delete, JSON and multipart import, export, raw import-file with notebook detection,
//! `/Workspace` prefix equivalence, permissions on other users' homes.

use crate::support::{Ctx, start};
use base64::Engine;
use serde_json::json;

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn home(c: &Ctx) -> String {
    format!("/Users/{}", c.emu.user_email())
}

async fn import_file(c: &Ctx, path: &str, body: &[u8], overwrite: bool) -> crate::support::Resp {
    c.send_bytes(
        "POST",
        &format!(
            "/api/2.0/workspace-files/import-file/{}?overwrite={overwrite}",
            path.trim_start_matches('/')
        ),
        body.to_vec(),
    )
    .await
}

#[tokio::test]
async fn mkdirs_status_list_delete() {
    let c = start().await;
    let h = home(&c);
    assert_eq!(
        c.post(
            "/api/2.0/workspace/mkdirs",
            json!({"path": format!("{h}/a/b/c")})
        )
        .await
        .body,
        json!({})
    );
    // Idempotent, and the /Workspace prefix names the same tree.
    assert_eq!(
        c.post(
            "/api/2.0/workspace/mkdirs",
            json!({"path": format!("/Workspace{h}/a/b")})
        )
        .await
        .status,
        200
    );
    let st = c
        .get(&format!(
            "/api/2.0/workspace/get-status?path=/Workspace{h}/a/b"
        ))
        .await;
    assert_eq!(st.body["object_type"], "DIRECTORY");
    assert_eq!(st.body["path"], format!("{h}/a/b"));
    assert!(st.body.get("size").is_none());

    let missing = c
        .get(&format!("/api/2.0/workspace/get-status?path={h}/nope"))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error_code"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(
        missing.body["message"],
        format!("Path ({h}/nope) doesn't exist.")
    );

    let empty = c
        .get(&format!("/api/2.0/workspace/list?path={h}/a/b/c"))
        .await;
    assert_eq!(empty.body, json!({}));
    assert_eq!(
        c.get(&format!("/api/2.0/workspace/list?path={h}/zzz"))
            .await
            .status,
        404
    );

    let not_empty = c
        .post(
            "/api/2.0/workspace/delete",
            json!({"path": format!("{h}/a")}),
        )
        .await;
    assert_eq!(not_empty.status, 400);
    assert_eq!(not_empty.body["error_code"], "DIRECTORY_NOT_EMPTY");
    assert_eq!(
        c.post(
            "/api/2.0/workspace/delete",
            json!({"path": format!("{h}/a"), "recursive": true})
        )
        .await
        .status,
        200
    );
    let gone = c
        .post(
            "/api/2.0/workspace/delete",
            json!({"path": format!("{h}/a")}),
        )
        .await;
    assert_eq!(gone.status, 404);
    let protected = c
        .post(
            "/api/2.0/workspace/delete",
            json!({"path": h, "recursive": true}),
        )
        .await;
    assert_eq!(protected.body["error_code"], "DIRECTORY_PROTECTED");
    let relative = c
        .post("/api/2.0/workspace/mkdirs", json!({"path": "Users/x"}))
        .await;
    assert_eq!(relative.status, 400);
    assert_eq!(relative.body["error_code"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn mkdirs_over_a_file_is_resource_already_exists() {
    let c = start().await;
    let h = home(&c);
    assert_eq!(
        import_file(&c, &format!("{h}/f.txt"), b"x", false)
            .await
            .status,
        200
    );
    let r = c
        .post(
            "/api/2.0/workspace/mkdirs",
            json!({"path": format!("{h}/f.txt/sub")}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error_code"], "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn import_file_semantics() {
    let c = start().await;
    let h = home(&c);
    // Parent missing → 404; after mkdirs it works.
    let r = import_file(
        &c,
        &format!("{h}/proj/src/main.rs"),
        b"fn main() {}\n",
        true,
    )
    .await;
    assert_eq!(r.status, 404);
    c.post(
        "/api/2.0/workspace/mkdirs",
        json!({"path": format!("{h}/proj/src")}),
    )
    .await;
    assert_eq!(
        import_file(
            &c,
            &format!("{h}/proj/src/main.rs"),
            b"fn main() {}\n",
            true
        )
        .await
        .status,
        200
    );
    let st = c
        .get(&format!(
            "/api/2.0/workspace/get-status?path={h}/proj/src/main.rs"
        ))
        .await;
    assert_eq!(st.body["object_type"], "FILE");
    assert_eq!(st.body["size"], 13);
    assert!(st.body["created_at"].as_i64().unwrap() > 0);

    // Existing file without overwrite → 409; with overwrite → replaced.
    let r = import_file(&c, &format!("{h}/proj/src/main.rs"), b"x", false).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error_code"], "RESOURCE_ALREADY_EXISTS");
    assert_eq!(
        import_file(&c, &format!("{h}/proj/src/main.rs"), b"new", true)
            .await
            .status,
        200
    );
    assert_eq!(
        c.emu
            .workspace_file(&format!("{h}/proj/src/main.rs"))
            .unwrap(),
        b"new"
    );

    // A .py with the notebook header becomes a notebook without the extension.
    let nb = b"# Databricks notebook source\nprint(1)\n";
    assert_eq!(
        import_file(&c, &format!("{h}/proj/job.py"), nb, false)
            .await
            .status,
        200
    );
    let st = c
        .get(&format!(
            "/api/2.0/workspace/get-status?path={h}/proj/job&return_export_info=true"
        ))
        .await;
    assert_eq!(st.body["object_type"], "NOTEBOOK");
    assert_eq!(st.body["language"], "PYTHON");
    assert_eq!(st.body["repos_export_format"], "SOURCE");
    assert!(!c.emu.workspace_exists(&format!("{h}/proj/job.py")));
    // Again without overwrite: 400 with an empty error_code and "already exists."
    let r = import_file(&c, &format!("{h}/proj/job.py"), nb, false).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error_code"], "");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .ends_with("already exists.")
    );
    assert_eq!(
        import_file(&c, &format!("{h}/proj/job.py"), nb, true)
            .await
            .status,
        200
    );
    // A plain .py stays a file; an .ipynb becomes a notebook.
    assert_eq!(
        import_file(&c, &format!("{h}/proj/lib.py"), b"x = 1\n", false)
            .await
            .status,
        200
    );
    let st = c
        .get(&format!(
            "/api/2.0/workspace/get-status?path={h}/proj/lib.py"
        ))
        .await;
    assert_eq!(st.body["object_type"], "FILE");
    assert_eq!(
        import_file(&c, &format!("{h}/proj/nb.ipynb"), br#"{"cells":[]}"#, false)
            .await
            .status,
        200
    );
    let st = c
        .get(&format!(
            "/api/2.0/workspace/get-status?path={h}/proj/nb&return_export_info=true"
        ))
        .await;
    assert_eq!(st.body["repos_export_format"], "JUPYTER");

    // Listing a file returns that one object.
    let one = c
        .get(&format!("/api/2.0/workspace/list?path={h}/proj/lib.py"))
        .await;
    assert_eq!(one.body["objects"].as_array().unwrap().len(), 1);
    let all = c
        .get(&format!("/api/2.0/workspace/list?path={h}/proj"))
        .await;
    let paths: Vec<&str> = all.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            format!("{h}/proj/job"),
            format!("{h}/proj/lib.py"),
            format!("{h}/proj/nb"),
            format!("{h}/proj/src")
        ]
    );
}

#[tokio::test]
async fn json_import_formats_and_export() {
    let c = start().await;
    let h = home(&c);
    let path = format!("{h}/nb");
    let no_lang = c
        .post(
            "/api/2.0/workspace/import",
            json!({"path": path, "content": b64(b"print(1)")}),
        )
        .await;
    assert_eq!(no_lang.status, 400);
    assert_eq!(no_lang.body["error_code"], "INVALID_PARAMETER_VALUE");
    let ok = c
        .post("/api/2.0/workspace/import", json!({"path": path, "content": b64(b"print(1)"), "format": "SOURCE", "language": "PYTHON"}))
        .await;
    assert_eq!(ok.status, 200);
    let dup = c
        .post(
            "/api/2.0/workspace/import",
            json!({"path": path, "content": b64(b"x"), "format": "SOURCE", "language": "PYTHON"}),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.body["error_code"], "RESOURCE_ALREADY_EXISTS");

    let exp = c
        .get(&format!(
            "/api/2.0/workspace/export?path={path}&format=SOURCE"
        ))
        .await;
    assert_eq!(exp.body["file_type"], "py");
    let src = base64::engine::general_purpose::STANDARD
        .decode(exp.body["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(src, b"# Databricks notebook source\nprint(1)");
    let direct = c
        .get(&format!(
            "/api/2.0/workspace/export?path={path}&direct_download=true"
        ))
        .await;
    assert_eq!(direct.bytes, b"# Databricks notebook source\nprint(1)");
    let jup = c
        .get(&format!(
            "/api/2.0/workspace/export?path={path}&format=JUPYTER&direct_download=true"
        ))
        .await;
    assert_eq!(jup.body["cells"][0]["source"], "print(1)");

    // AUTO: a header makes a notebook (extension dropped), otherwise a file.
    c.post(
        "/api/2.0/workspace/import",
        json!({"path": format!("{h}/q.sql"), "format": "AUTO",
        "content": b64(b"-- Databricks notebook source\nselect 1")}),
    )
    .await;
    let st = c
        .get(&format!("/api/2.0/workspace/get-status?path={h}/q"))
        .await;
    assert_eq!(st.body["language"], "SQL");
    c.post(
        "/api/2.0/workspace/import",
        json!({"path": format!("{h}/data.csv"), "format": "AUTO", "content": b64(b"a,b\n")}),
    )
    .await;
    let exp = c
        .get(&format!(
            "/api/2.0/workspace/export?path={h}/data.csv&format=AUTO"
        ))
        .await;
    assert_eq!(exp.body["content"], b64(b"a,b\n"));

    let missing_parent = c
        .post(
            "/api/2.0/workspace/import",
            json!({"path": format!("{h}/no/such/x.txt"), "format": "AUTO", "content": b64(b"x")}),
        )
        .await;
    assert_eq!(missing_parent.status, 404);
    let dir_export = c.get(&format!("/api/2.0/workspace/export?path={h}")).await;
    assert_eq!(dir_export.status, 400);
    let too_big = c
        .post(
            "/api/2.0/workspace/import",
            json!({"path": format!("{h}/big.txt"), "format": "AUTO",
            "content": b64(&vec![b'a'; (10 << 20) + 1])}),
        )
        .await;
    assert_eq!(too_big.status, 400);
    assert_eq!(too_big.body["error_code"], "MAX_NOTEBOOK_SIZE_EXCEEDED");
}

#[tokio::test]
async fn multipart_import() {
    let c = start().await;
    let h = home(&c);
    // A multipart/form-data body as the Python SDK's `upload()` sends it, built by hand.
    let boundary = "kilnboundary1234";
    let mut body = Vec::new();
    for (name, value) in [
        ("path", format!("{h}/up.txt")),
        ("format", "AUTO".into()),
        ("overwrite", "true".into()),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"content\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(b"multipart body\r\n");
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let resp = c
        .http
        .post(c.url("/api/2.0/workspace/import"))
        .bearer_auth(c.token())
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        c.emu
            .workspace_file(&format!("/Workspace{h}/up.txt"))
            .unwrap(),
        b"multipart body"
    );
}

#[tokio::test]
async fn other_users_home_is_forbidden_shared_is_open() {
    let c = start().await;
    let bob = c.emu.create_user("bob@example.com").unwrap();
    let alice_home = home(&c);
    c.post(
        "/api/2.0/workspace/mkdirs",
        json!({"path": format!("{alice_home}/private")}),
    )
    .await;
    let read = c
        .call(
            "GET",
            &format!("/api/2.0/workspace/list?path={alice_home}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(read.status, 403);
    assert_eq!(read.body["error_code"], "PERMISSION_DENIED");
    let write = c
        .call(
            "POST",
            "/api/2.0/workspace/mkdirs",
            Some(&bob),
            Some(json!({"path": format!("{alice_home}/bob-was-here")})),
        )
        .await;
    assert_eq!(write.status, 403);
    let users = c
        .call(
            "GET",
            "/api/2.0/workspace/list?path=/Users",
            Some(&bob),
            None,
        )
        .await;
    let visible: Vec<&str> = users.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(visible, vec!["/Users/bob@example.com"]);
    let shared = c
        .call(
            "POST",
            "/api/2.0/workspace/mkdirs",
            Some(&bob),
            Some(json!({"path": "/Shared/team"})),
        )
        .await;
    assert_eq!(shared.status, 200);
    let root = c
        .call(
            "POST",
            "/api/2.0/workspace/mkdirs",
            Some(&bob),
            Some(json!({"path": "/Top"})),
        )
        .await;
    assert_eq!(root.status, 403);
}
