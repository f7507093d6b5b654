//! A loopback HTTP server standing in for the vulnerability feeds: it
//! serves a directory at the real servers' paths, zips OSV ecosystem
//! folders into `all.zip` on the fly, lists directories as HTML (Alpine's
//! index), answers conditional requests with 304, and records every
//! request so tests can see what was transferred.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;
use sha2::Digest as _;

/// One request the feed server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The path asked for.
    pub path: String,
    /// Whether it carried `If-None-Match` or `If-Modified-Since`.
    pub conditional: bool,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes: usize,
}

/// The running feed server.
pub struct FeedServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The directory served (tests may change files in it).
    pub root: PathBuf,
    log: Arc<Mutex<Vec<Served>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FeedServer {
    /// Serve a copy of `source` (so tests can change it).
    pub async fn start(source: &Path) -> FeedServer {
        let root = tempfile::tempdir().unwrap().keep();
        copy_dir(source, &root);
        let log = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = (root.clone(), log.clone());
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (root, log) = state.clone();
            async move { answer(&root, &log, req) }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FeedServer {
            base,
            root,
            log,
            task,
        }
    }

    /// Every request so far, and forget them.
    pub fn take_log(&self) -> Vec<Served> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A folder of OSV records as the real `all.zip` holds them (fixed times,
/// sorted names, so the same records give the same bytes).
fn zip_folder(dir: &Path) -> Vec<u8> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for path in names {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        zip.start_file(name, options).unwrap();
        zip.write_all(&std::fs::read(&path).unwrap()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn listing(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    let links: String = names
        .iter()
        .map(|n| format!("<a href=\"{n}\">{n}</a>\n"))
        .collect();
    format!("<html><body><pre><a href=\"../\">../</a>\n{links}</pre></body></html>").into_bytes()
}

fn answer(root: &Path, log: &Mutex<Vec<Served>>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    let headers: &HeaderMap = req.headers();
    let conditional =
        headers.contains_key(header::IF_NONE_MATCH) || headers.contains_key(header::IF_MODIFIED_SINCE);
    let local = root.join(path.trim_start_matches('/'));
    let body = if path.contains("..") {
        None
    } else if path.ends_with("/all.zip") {
        local.parent().filter(|d| d.is_dir()).map(zip_folder)
    } else if local.is_dir() {
        Some(listing(&local))
    } else {
        std::fs::read(&local).ok()
    };
    let (status, body, etag) = match body {
        None => (StatusCode::NOT_FOUND, Vec::new(), None),
        Some(body) => {
            let etag = format!("\"{}\"", hex::encode(sha2::Sha256::digest(&body)));
            let matches = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == etag);
            if matches {
                (StatusCode::NOT_MODIFIED, Vec::new(), Some(etag))
            } else {
                (StatusCode::OK, body, Some(etag))
            }
        }
    };
    log.lock().unwrap().push(Served {
        path,
        conditional,
        status: status.as_u16(),
        body_bytes: body.len(),
    });
    let mut response = Response::builder().status(status);
    if let Some(etag) = etag {
        response = response.header(header::ETAG, etag);
    }
    response.body(Body::from(body)).unwrap()
}
