//! Files API on volumes: upload with and without overwrite, download with Range and
//! If-Unmodified-Since, HEAD, delete, mkdir -p over a file, listing with paging, rmdir of a
//! non-empty or missing directory, non-volume paths.

use crate::support::start;
use serde_json::json;

const BASE: &str = "/api/2.0/fs";

#[tokio::test]
async fn upload_download_head_delete() {
    let c = start().await;
    let f = format!("{BASE}/files/Volumes/main/agents/scripts/init.sh");
    let up = c
        .send_bytes("PUT", &f, b"#!/bin/bash\necho hi\n".to_vec())
        .await;
    assert!((200..300).contains(&up.status));
    let down = c.get(&f).await;
    assert_eq!(down.status, 200);
    assert_eq!(down.bytes, b"#!/bin/bash\necho hi\n");
    assert_eq!(down.headers["content-type"], "application/octet-stream");
    assert_eq!(down.headers["content-length"], "20");
    assert!(down.headers.contains_key("last-modified"));

    let head = c
        .http
        .head(c.url(&f))
        .bearer_auth(c.token())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "20");

    let no_overwrite = c
        .send_bytes("PUT", &format!("{f}?overwrite=false"), b"x".to_vec())
        .await;
    assert_eq!(no_overwrite.status, 409);
    assert_eq!(
        c.send_bytes("PUT", &f, b"replaced".to_vec()).await.status,
        204
    );
    assert_eq!(
        c.emu
            .volume_file("/Volumes/main/agents/scripts/init.sh")
            .unwrap(),
        b"replaced"
    );

    assert_eq!(
        c.call("DELETE", &f, Some(&c.token()), None).await.status,
        204
    );
    let missing = c.get(&f).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error_code"], "NOT_FOUND");
    assert_eq!(
        c.call("DELETE", &f, Some(&c.token()), None).await.status,
        404
    );
    let head = c
        .http
        .head(c.url(&f))
        .bearer_auth(c.token())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);
}

#[tokio::test]
async fn ranges_and_preconditions() {
    let c = start().await;
    let f = format!("{BASE}/files/Volumes/c/s/v/data.bin");
    c.send_bytes("PUT", &f, b"0123456789".to_vec()).await;
    let get_range = |range: &'static str| {
        let req = c
            .http
            .get(c.url(&f))
            .bearer_auth(c.token())
            .header("Range", range);
        async move { crate::support::into_resp(req.send().await.unwrap()).await }
    };
    let r = get_range("bytes=2-5").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.bytes, b"2345");
    assert_eq!(r.headers["content-range"], "bytes 2-5/10");
    assert_eq!(get_range("bytes=7-").await.bytes, b"789");
    assert_eq!(get_range("bytes=-3").await.bytes, b"789");
    assert_eq!(get_range("bytes=20-30").await.status, 416);

    let old = c
        .http
        .get(c.url(&f))
        .bearer_auth(c.token())
        .header("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 412);
    let future = c
        .http
        .get(c.url(&f))
        .bearer_auth(c.token())
        .header("If-Unmodified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(future.status(), 200);
}

#[tokio::test]
async fn directories() {
    let c = start().await;
    let d = format!("{BASE}/directories/Volumes/c/s/v/a/b");
    assert_eq!(c.send_bytes("PUT", &d, vec![]).await.status, 204);
    assert_eq!(
        c.send_bytes("PUT", &d, vec![]).await.status,
        204,
        "mkdir -p is idempotent"
    );
    let head = c
        .http
        .head(c.url(&d))
        .bearer_auth(c.token())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let empty = c.get(&d).await;
    assert_eq!(empty.body, json!({}));

    for i in 0..5 {
        c.send_bytes(
            "PUT",
            &format!("{BASE}/files/Volumes/c/s/v/a/b/f{i}.txt"),
            vec![b'x'; i],
        )
        .await;
    }
    c.send_bytes(
        "PUT",
        &format!("{BASE}/files/Volumes/c/s/v/a/b/sub/deep.txt"),
        b"d".to_vec(),
    )
    .await;
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let q = match &token {
            Some(t) => format!("{d}?page_size=2&page_token={t}"),
            None => format!("{d}?page_size=2"),
        };
        let page = c.get(&q).await;
        for e in page.body["contents"].as_array().unwrap() {
            names.push((
                e["name"].as_str().unwrap().to_string(),
                e["is_directory"].as_bool().unwrap(),
            ));
        }
        match page.body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let expected: Vec<(String, bool)> = (0..5)
        .map(|i| (format!("f{i}.txt"), false))
        .chain([("sub".to_string(), true)])
        .collect();
    assert_eq!(names, expected);

    let not_empty = c.call("DELETE", &d, Some(&c.token()), None).await;
    assert_eq!(not_empty.status, 400);
    assert_eq!(not_empty.body["error_code"], "INVALID_PARAMETER_VALUE");
    assert_eq!(
        not_empty.body["details"][0]["reason"],
        "FILES_API_DIRECTORY_IS_NOT_EMPTY"
    );
    let missing = c
        .call(
            "DELETE",
            &format!("{BASE}/directories/Volumes/c/s/v/zzz"),
            Some(&c.token()),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["details"][0]["reason"],
        "FILES_API_DIRECTORY_IS_NOT_FOUND"
    );
    assert_eq!(
        c.get(&format!("{BASE}/directories/Volumes/c/s/v/zzz"))
            .await
            .status,
        404
    );

    let over_file = c
        .send_bytes(
            "PUT",
            &format!("{BASE}/directories/Volumes/c/s/v/a/b/f1.txt"),
            vec![],
        )
        .await;
    assert_eq!(over_file.status, 409);
    let file_over_dir = c
        .send_bytes(
            "PUT",
            &format!("{BASE}/files/Volumes/c/s/v/a/b/sub"),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(file_over_dir.status, 409);

    let empty_dir = format!("{BASE}/directories/Volumes/c/s/v/empty");
    c.send_bytes("PUT", &empty_dir, vec![]).await;
    assert_eq!(
        c.call("DELETE", &empty_dir, Some(&c.token()), None)
            .await
            .status,
        204
    );
    assert_eq!(c.get(&empty_dir).await.status, 404);
}

#[tokio::test]
async fn non_volume_paths_are_rejected() {
    let c = start().await;
    let r = c
        .send_bytes("PUT", &format!("{BASE}/files/tmp/x"), b"x".to_vec())
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .send_bytes("PUT", &format!("{BASE}/files/Volumes/c/s/v"), b"x".to_vec())
        .await;
    assert_eq!(r.status, 400, "a volume root is not a file");
    let no_auth = c
        .call("GET", &format!("{BASE}/files/Volumes/c/s/v/x"), None, None)
        .await;
    assert_eq!(no_auth.status, 401);
}
