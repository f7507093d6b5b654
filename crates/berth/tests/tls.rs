//! HTTPS: Quay's `ssl.cert` and `ssl.key` beside the config file turn it
//! on; real podman and skopeo push and pull trusting a test CA; HTTP/2 is
//! negotiated; SIGHUP swaps the certificate for new connections while open
//! ones carry on; bad files and settings fail the start clearly.
//!
//! The tests run on several threads: `Server::stop` blocks on the process
//! while the clients' pooled HTTP/2 connections must still answer the
//! server's shutdown ping.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli::{file_digest, podman, podman_import_hello, skopeo};
use common::layout::{write_image, write_layout_index};
use common::tls::{ServerCert, TestCa, served, write_files};
use common::{
    ADMIN, ADMIN_PASSWORD, Server, admin_client_builder, eventually, random_bytes, run, sha256, unique_seed,
};

#[tokio::test(flavor = "multi_thread")]
async fn podman_and_skopeo_push_and_pull_over_https_and_http2() {
    let ca = TestCa::new("Berth test CA");
    let cert = ca.server_cert();
    let s = Server::start_tls(&ca, &cert, "").await;
    let host = s.host().to_owned();

    // The challenge over HTTP/2 (no Host header: the realm comes from the
    // request's authority) names an https realm.
    let r = s
        .anon
        .get(s.url("/v2/"))
        .header("x-request-id", "tls-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.headers()["x-request-id"], "tls-1");
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"https://{host}/v2/auth\",service=\"{host}\""
        )),
        "{challenge}"
    );
    let (der, version) = served(&r);
    assert_eq!(der, cert.der);
    assert_eq!(version, reqwest::tls::Version::TLS_1_3);
    // HTTP/1.1 is offered too.
    let h1 = ca.trust(reqwest::Client::builder()).http1_only().build().unwrap();
    let r = h1.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("realm=\"https://")
    );

    let certs = ca.cert_dir();
    let certs = certs.path().to_str().unwrap();

    // skopeo: in, inspect, out, every blob intact.
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[200_000, 50_000], unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    let dest = format!("docker://{host}/admin/skopeo-tls:v1");
    run(skopeo(&host)
        .args(["copy", "--dest-cert-dir", certs])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(&dest));
    let raw = run(skopeo(&host).args(["inspect", "--raw", "--cert-dir", certs, &dest]));
    assert_eq!(sha256(raw.as_bytes()), image.digest);
    let out = work.path().join("out");
    run(skopeo(&host)
        .args(["copy", "--src-cert-dir", certs, &dest])
        .arg(format!("dir:{}", out.display())));
    assert_eq!(file_digest(&out.join("manifest.json")), image.digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let digest = layer["digest"].as_str().unwrap();
        assert_eq!(
            file_digest(&out.join(digest.trim_start_matches("sha256:"))),
            digest
        );
    }
    // Without the CA, skopeo refuses the certificate.
    let refused = skopeo(&host).args(["inspect", "--raw", &dest]).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // podman: log in, push, pull into fresh storage.
    let auth = work.path().join("podman-auth.json");
    let password = work.path().join("password");
    std::fs::write(&password, ADMIN_PASSWORD).unwrap();
    run(podman(work.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args([
            "login",
            "--cert-dir",
            certs,
            "--username",
            ADMIN,
            "--password-stdin",
            &host,
        ])
        .stdin(Stdio::from(std::fs::File::open(&password).unwrap())));
    let tagged = format!("{host}/admin/podman-tls:v1");
    podman_import_hello(work.path(), &tagged, &[]);
    let digest_file = work.path().join("pushed.digest");
    run(podman(work.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["push", "--cert-dir", certs, "--digestfile"])
        .arg(&digest_file)
        .arg(&tagged));
    let pushed = std::fs::read_to_string(&digest_file).unwrap().trim().to_owned();
    let fresh = tempfile::tempdir().unwrap();
    run(podman(fresh.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["pull", "--cert-dir", certs, &tagged]));
    let pulled = run(podman(fresh.path()).args(["inspect", "--format", "{{.Digest}}", &tagged]));
    assert_eq!(pulled.trim(), pushed);
}

/// A streamed request body fed by the test.
fn fed_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, reqwest::Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

async fn log_contains(s: &Server, text: &str) -> bool {
    std::fs::read_to_string(s.log_file.as_ref().unwrap())
        .unwrap_or_default()
        .contains(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_serves_a_new_certificate_to_new_connections_while_open_ones_finish() {
    let old_ca = TestCa::new("old CA");
    let old = old_ca.server_cert();
    let mut s = Server::start_tls(&old_ca, &old, "").await;
    s.stop();
    s.log_file = Some(s.data_dir.path().join("server.log"));
    s.restart().await;

    // One client, one connection: the upload starts before the reload.
    let uploader = old_ca.trust(admin_client_builder()).build().unwrap();
    let r = uploader
        .post(s.url("/v2/admin/reload/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let blob = random_bytes(3 * 1024 * 1024, unique_seed());
    let (first, second) = blob.split_at(1024 * 1024);
    let r = uploader
        .patch(s.url(&location))
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();

    let new_ca = TestCa::new("new CA");
    let new = new_ca.server_cert();
    assert!(
        new_ca.client().get(s.url("/v2/")).send().await.is_err(),
        "before the reload the old certificate is served"
    );
    write_files(s.data_dir.path(), &new);
    s.hangup();
    let fresh = new_ca.client();
    eventually("the new certificate is served", || {
        let fresh = fresh.clone();
        let url = s.url("/v2/");
        async move { fresh.get(url).send().await.is_ok() }
    })
    .await;
    let r = new_ca.client().get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(served(&r).0, new.der, "a new connection gets the new certificate");
    assert!(
        old_ca.client().get(s.url("/v2/")).send().await.is_err(),
        "no new connection gets the old one"
    );
    assert!(log_contains(&s, "reloaded the TLS certificate").await);

    // The open connection still has the old certificate and finishes the
    // upload: the second chunk, then the closing PUT.
    let r = uploader
        .patch(s.url(&location))
        .header("content-range", format!("{}-{}", first.len(), blob.len() - 1))
        .body(second.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    assert_eq!(served(&r).0, old.der, "the same connection as before the reload");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let digest = sha256(&blob);
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = uploader
        .put(s.url(&format!("{location}{sep}digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let reader = new_ca.trust(admin_client_builder()).build().unwrap();
    let r = reader
        .get(s.url(&format!("/v2/admin/reload/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sha256(&r.bytes().await.unwrap()), digest);

    // A bad new certificate is logged and the current one kept.
    std::fs::write(s.data_dir.path().join("ssl.cert"), "not a certificate\n").unwrap();
    s.hangup();
    eventually("the bad certificate is reported", || {
        log_contains(&s, "no valid PEM certificate")
    })
    .await;
    assert!(log_contains(&s, "still serving the previous one").await);
    let r = new_ca.client().get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(served(&r).0, new.der);
    // So is a key that is not the certificate's.
    let other = new_ca.server_cert();
    std::fs::write(s.data_dir.path().join("ssl.cert"), &other.cert).unwrap();
    s.hangup();
    eventually("the mismatched key is reported", || {
        log_contains(&s, "does not belong to the certificate")
    })
    .await;
    let r = new_ca.client().get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(served(&r).0, new.der);

    // SIGTERM stops gracefully (exit status checked by `stop`).
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_over_https_finishes_the_request_in_flight() {
    let ca = TestCa::new("CA");
    let cert = ca.server_cert();
    let mut s = Server::start_tls(&ca, &cert, "").await;
    s.stop();
    s.log_file = Some(s.data_dir.path().join("server.log"));
    s.restart().await;

    let location = s.start_upload("admin/graceful").await;
    let blob = random_bytes(512 * 1024, unique_seed());
    let (tx, body) = fed_body();
    let request = tokio::spawn(s.client.patch(s.url(&location)).body(body).send());
    tx.send(blob[..256 * 1024].to_vec()).await.unwrap();
    Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    eventually("the server begins to shut down", || {
        log_contains(&s, "shutting down")
    })
    .await;
    tx.send(blob[256 * 1024..].to_vec()).await.unwrap();
    drop(tx);
    let r = request.await.unwrap().unwrap();
    assert_eq!(r.status(), 202, "the request in flight finishes");
    assert_eq!(
        r.headers()["range"].to_str().unwrap(),
        format!("0-{}", blob.len() - 1)
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_protocols_choose_the_versions_offered() {
    let ca = TestCa::new("CA");
    let cert = ca.server_cert();
    let s = Server::start_tls(&ca, &cert, "SSL_PROTOCOLS: ['TLSv1.2']\n").await;
    let r = s.anon.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(served(&r).1, reqwest::tls::Version::TLS_1_2);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let only_13 = ca
        .trust(reqwest::Client::builder())
        .tls_version_min(reqwest::tls::Version::TLS_1_3)
        .build()
        .unwrap();
    assert!(only_13.get(s.url("/v2/")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn preferred_url_scheme_names_the_realm_scheme() {
    // Behind a proxy that terminates TLS: plain HTTP here, https realm.
    let s = Server::start_with_config("PREFERRED_URL_SCHEME: https\n").await;
    let r = s.anon.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(s.scheme, "http");
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("realm=\"https://{}/v2/auth\"", s.host())),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_the_https_port_is_closed_and_nothing_else_notices() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ca = TestCa::new("CA");
    let cert = ca.server_cert();
    let mut s = Server::start_tls(&ca, &cert, "").await;
    // Hold an HTTPS connection open across the plain-HTTP attempts.
    let r = s.anon.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(format!("http://{}/v2/", s.host()))
            .send()
            .await
            .is_err()
    );
    let mut raw = tokio::net::TcpStream::connect(s.host()).await.unwrap();
    raw.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), raw.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "no HTTP answer on the TLS port");
    // Garbage and an immediate close.
    let mut raw = tokio::net::TcpStream::connect(s.host()).await.unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])
        .await
        .unwrap();
    drop(raw);

    let r = s.anon.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(ca.client().get(s.url("/v2/")).send().await.unwrap().status(), 401);
    s.stop();
}

/// Run `berth serve` with `config.yaml` (and whatever else is in `dir`),
/// expecting it to refuse to start; returns its standard error.
fn refused_start(dir: &Path, yaml: &str) -> String {
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let mut child = Command::new(common::berth_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(_) = child.try_wait().unwrap() else {
        child.kill().unwrap();
        panic!("berth started with {yaml:?} in {}", dir.display());
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "an error, not a panic: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn files(dir: &Path, cert: &str, key: &str) {
    write_files(
        dir,
        &ServerCert {
            cert: cert.into(),
            key: key.into(),
            der: Vec::new(),
        },
    );
}

#[test]
fn bad_certificates_and_settings_fail_the_start_naming_the_file_or_key() {
    let ca = TestCa::new("CA");
    let good = ca.server_cert();
    let other = ca.server_cert();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let named = |e: &str, file: &str| e.contains(&d.join(file).display().to_string());

    // The certificate without its key.
    std::fs::write(d.join("ssl.cert"), &good.cert).unwrap();
    let e = refused_start(d, "");
    assert!(named(&e, "ssl.key") && e.contains("missing"), "{e}");

    // A key that is not the certificate's.
    files(d, &good.cert, &other.key);
    let e = refused_start(d, "");
    assert!(e.contains("does not belong to the certificate"), "{e}");
    assert!(named(&e, "ssl.key") && named(&e, "ssl.cert"), "{e}");

    // Garbage, outside and inside PEM armour.
    files(d, "hello\n", &good.key);
    let e = refused_start(d, "");
    assert!(
        named(&e, "ssl.cert") && e.contains("no valid PEM certificate"),
        "{e}"
    );
    files(
        d,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        &good.key,
    );
    let e = refused_start(d, "");
    assert!(
        named(&e, "ssl.cert") && e.contains("no valid PEM certificate"),
        "{e}"
    );
    files(
        d,
        &good.cert,
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
    );
    let e = refused_start(d, "");
    assert!(
        named(&e, "ssl.key") && e.contains("no valid PEM private key"),
        "{e}"
    );
    files(d, &good.cert, &good.cert);
    let e = refused_start(d, "");
    assert!(
        named(&e, "ssl.key") && e.contains("no valid PEM private key"),
        "{e}"
    );

    // Explicit paths that lead nowhere.
    files(d, &good.cert, &good.key);
    let e = refused_start(d, "SSL_CERT_PATH: missing.pem\nSSL_KEY_PATH: ssl.key\n");
    assert!(named(&e, "missing.pem") && e.contains("reading"), "{e}");

    // Protocols: obsolete and unknown ones are refused by name.
    let e = refused_start(d, "SSL_PROTOCOLS: ['TLSv1', 'TLSv1.2']\n");
    assert!(
        e.contains("SSL_PROTOCOLS") && e.contains("TLSv1 is not supported"),
        "{e}"
    );
    let e = refused_start(d, "SSL_PROTOCOLS: ['TLSv1.1']\n");
    assert!(
        e.contains("SSL_PROTOCOLS") && e.contains("TLSv1.1 is not supported"),
        "{e}"
    );
    let e = refused_start(d, "SSL_PROTOCOLS: ['TLS1.3']\n");
    assert!(
        e.contains("SSL_PROTOCOLS") && e.contains("unknown protocol \"TLS1.3\""),
        "{e}"
    );
}
