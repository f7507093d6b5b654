//! A hostile upstream, for the proxy-cache tests: an HTTP server that lies
//! (a manifest under a digest it does not have, a blob of other bytes), one
//! that cuts a blob short, and one that sends a manifest too large to keep.
//! No real registry misbehaves on demand, so this one is written here.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::common::{OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, random_bytes, sha256};

/// The lies it tells, by tag or digest.
pub struct Hostile {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// A blob it serves with other bytes of the right length.
    pub forged_blob: String,
    /// A blob it cuts short.
    pub truncated_blob: String,
}

const BLOB_LEN: usize = 1 << 20;

fn manifest_of(layer: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{layer}","size":{BLOB_LEN}}},"layers":[{{"mediaType":"{OCI_LAYER}","digest":"{layer}","size":{BLOB_LEN}}}]}}"#
    )
}

fn manifest_response(body: String, digest: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", OCI_MANIFEST.parse().unwrap());
    headers.insert("docker-content-digest", digest.parse().unwrap());
    (StatusCode::OK, headers, body).into_response()
}

impl Hostile {
    /// Start it on a free loopback port.
    pub async fn start() -> Hostile {
        let forged = random_bytes(BLOB_LEN, crate::common::unique_seed());
        let forged_blob = sha256(&forged);
        let truncated = random_bytes(BLOB_LEN, crate::common::unique_seed());
        let truncated_blob = sha256(&truncated);
        let (fb, tb) = (forged_blob.clone(), truncated_blob.clone());
        let app = Router::new()
            .route("/v2/", get(|| async { "{}" }))
            .route(
                "/v2/evil/{tag}/manifests/{reference}",
                get(move |Path((_, reference)): Path<(String, String)>| {
                    let (fb, tb) = (fb.clone(), tb.clone());
                    async move {
                        match reference.as_str() {
                            // Claims a digest its bytes do not have.
                            "lying" => manifest_response(manifest_of(&fb), &sha256(b"something else")),
                            // Far over any manifest limit.
                            "huge" => {
                                let padding = "x".repeat(8 << 20);
                                let body =
                                    format!(r#"{{"schemaVersion":2,"annotations":{{"p":"{padding}"}}}}"#);
                                let digest = sha256(body.as_bytes());
                                manifest_response(body, &digest)
                            }
                            "forged" => {
                                let body = manifest_of(&fb);
                                let digest = sha256(body.as_bytes());
                                manifest_response(body, &digest)
                            }
                            "truncated" => {
                                let body = manifest_of(&tb);
                                let digest = sha256(body.as_bytes());
                                manifest_response(body, &digest)
                            }
                            _ => StatusCode::NOT_FOUND.into_response(),
                        }
                    }
                }),
            )
            .route(
                "/v2/evil/{tag}/blobs/{digest}",
                get(move |Path((_, digest)): Path<(String, String)>| {
                    let (forged, truncated) = (forged.clone(), truncated.clone());
                    async move {
                        if digest == sha256(&forged) {
                            // Other bytes of the same length.
                            return (StatusCode::OK, random_bytes(BLOB_LEN, 7)).into_response();
                        }
                        if digest == sha256(&truncated) {
                            // Half the bytes, under the whole length.
                            let half = bytes::Bytes::from(truncated[..BLOB_LEN / 2].to_vec());
                            let stream = futures_util::stream::iter([
                                Ok::<_, std::io::Error>(half),
                                Err(std::io::Error::other("cut short")),
                            ]);
                            let mut r = Body::from_stream(stream).into_response();
                            r.headers_mut()
                                .insert("content-length", BLOB_LEN.to_string().parse().unwrap());
                            return r;
                        }
                        StatusCode::NOT_FOUND.into_response()
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile {
            host,
            forged_blob,
            truncated_blob,
        }
    }
}
