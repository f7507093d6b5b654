//! A real Chromium driven through WebDriver (Debian's `chromium` and
//! `chromium-driver`) with fantoccini. Each browser gets its own
//! chromedriver on its own free port and its own temporary profile, runs
//! headless, and is killed with everything it started when dropped, even
//! when the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Where the page screenshots go: `target/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    // The test binary is target/<profile>/deps/<name>.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A headless Chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// Prefix of this browser's screenshot files.
    prefix: String,
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Start chromedriver and a Chromium session `width` pixels wide;
    /// screenshots are named `<prefix>-<page>.png`.
    pub async fn start(prefix: &str, width: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // Another test may take the port between the probe and the start:
        // then chromedriver exits and the next port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut driver = Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so Chromium dies with it.
                .process_group(0)
                .spawn()
                .expect("chromedriver (apt-get install chromium-driver)");
            let caps = json!({
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--no-first-run",
                        "--disable-extensions",
                        format!("--user-data-dir={}", profile.path().display()),
                        format!("--window-size={width},1000"),
                    ]
                }
            });
            let caps = caps.as_object().unwrap().clone();
            let url = format!("http://127.0.0.1:{port}");
            let mut client = None;
            // chromedriver needs a moment to listen; readiness, not timing.
            for _ in 0..100 {
                if driver.try_wait().unwrap().is_some() {
                    break;
                }
                match ClientBuilder::rustls()
                    .unwrap()
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
                {
                    Ok(c) => {
                        client = Some(c);
                        break;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                }
            }
            match client {
                Some(client) => {
                    return Browser {
                        client,
                        driver,
                        _profile: profile,
                        prefix: prefix.to_owned(),
                    };
                }
                None => kill_group(&mut driver),
            }
        }
        panic!("chromedriver did not start");
    }

    /// Open `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The element `css` selects.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Whether any element matches `css`.
    pub async fn has(&self, css: &str) -> bool {
        !self.client.find_all(Locator::Css(css)).await.unwrap().is_empty()
    }

    /// Type `text` into the field `css` selects.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Sign in on `base` (a registry's address, no trailing slash) as
    /// `user`, through the console's form.
    pub async fn sign_in(&self, base: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/signin")).await;
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.click("main form button[type=submit]").await;
        let text = self.page_text().await;
        assert!(text.contains("Signed in as"), "{text}");
    }

    /// Click what `css` selects (a link or a submit button) and wait until
    /// the next page has loaded.
    pub async fn click(&self, css: &str) {
        self.execute("window.berthLeaving = true;", vec![]).await;
        self.find(css).await.click().await.unwrap();
        // Readiness, not timing: the old page's flag is gone once the new
        // document exists.
        for _ in 0..400 {
            let arrived = self
                .client
                .execute(
                    "return window.berthLeaving !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(arrived, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("clicking {css} led to no new page");
    }

    /// The text of the page's `main`.
    pub async fn main_text(&self) -> String {
        self.find("main").await.text().await.unwrap()
    }

    /// The text of the whole page.
    pub async fn page_text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Run `script` in the page (WebDriver's own channel, not subject to
    /// the page's CSP).
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Save a screenshot of the page as `<prefix>-<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{}-{name}.png", self.prefix)), png).unwrap();
    }
}

/// Kill `child` and its process group (chromedriver and the Chromium it
/// started).
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// axe-core's script, installed from npm by `scripts/test.sh` into the
/// git-ignored `.cache/axe` (`TEST_AXE_JS` names another copy).
fn axe_source() -> String {
    let path = std::env::var_os("TEST_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.cache/axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core not found at {} ({e}): npm install --prefix .cache/axe axe-core@4",
            path.display()
        )
    })
}

impl Browser {
    /// Run axe-core on the page; panics listing every serious or critical
    /// violation.
    pub async fn assert_accessible(&self, page: &str) {
        let found = self.accessibility_violations().await;
        assert!(
            found.is_empty(),
            "accessibility violations on {page}:\n{}",
            found.join("\n")
        );
    }

    /// The serious and critical violations axe-core finds on the page.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        self.execute(&axe_source(), vec![]).await;
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(
                   (r) => done(r.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => v.id + ' (' + v.impact + '): ' + v.help + ' at '
                       + v.nodes.map((n) => n.target.join(' ')).join(', '))),
                   (e) => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(found).unwrap()
    }
}
