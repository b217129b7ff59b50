//! The playground page (`web/`) in a real, headless Chromium driven over WebDriver by
//! chromedriver: the showcase, the out-of-gas dialog, the dialog for a right the program
//! lacks, and images that go from the page to the CLI and back with the same bytes. Each test serves `web/www` on a free loopback
//! port and needs the page built (`scripts/web.sh --build`), `chromium` and
//! `chromedriver`; without them it prints `SKIPPED` and passes — unless
//! `RARVM_REQUIRE_SERVICES=1`, when it fails. Nothing touches the network.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const RARVM: &str = env!("CARGO_BIN_EXE_rarvm");
const WAIT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/local/bin".into()])
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn skip(why: &str) -> Option<Browser> {
    if std::env::var("RARVM_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{why} (RARVM_REQUIRE_SERVICES=1)");
    }
    println!("SKIPPED: {why}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < WAIT, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request with `Connection: close`; the body of the answer as JSON.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    s.set_read_timeout(Some(WAIT)).expect("a timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("writes");
    // chromedriver may keep the connection open: read the headers, then the body they
    // announce.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head, body_at) = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase(),
                i + 4,
            );
        }
        let n = s.read(&mut buf).expect("reads an answer");
        assert!(
            n > 0,
            "{method} {path}: the connection closed before the headers"
        );
        raw.extend_from_slice(&buf[..n]);
    };
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().expect("a length"));
    let done = |raw: &[u8]| match length {
        Some(n) => raw.len() >= body_at + n,
        // Chunked: the last chunk is empty.
        None => raw[body_at..].ends_with(b"0\r\n\r\n"),
    };
    while !done(&raw) {
        let n = s.read(&mut buf).expect("reads the body");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let mut rest = &raw[body_at..];
    let mut data = Vec::new();
    if length.is_none() && head.contains("transfer-encoding: chunked") {
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").expect("a size");
            let size = std::str::from_utf8(&rest[..eol]).expect("hex");
            let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
            if n == 0 {
                break;
            }
            data.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[eol + 4 + n..];
        }
    } else {
        data.extend_from_slice(rest);
    }
    serde_json::from_slice(&data).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&data)
        )
    })
}

/// A page server and chromedriver with one headless Chromium session; all killed on drop.
struct Browser {
    children: Vec<Child>,
    driver: u16,
    session: String,
    url: String,
    downloads: PathBuf,
}

impl Browser {
    fn start(test: &str) -> Option<Browser> {
        let www = root().join("web/www");
        if !www.join("pkg/rarvm_web_bg.wasm").is_file() {
            return skip("the page is not built (run scripts/web.sh --build)");
        }
        let Some(driver_bin) = find("CHROMEDRIVER", &["chromedriver"]) else {
            return skip("chromedriver not found (apt-get install chromium-driver)");
        };
        let Some(chrome) = find(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        ) else {
            return skip("chromium not found (apt-get install chromium)");
        };
        let mut children = Vec::new();
        let web = free_port();
        children.push(
            Command::new("python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
                .arg(&www)
                .arg(web.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 serves the page"),
        );
        let driver = free_port();
        children.push(
            Command::new(driver_bin)
                .arg(format!("--port={driver}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let downloads =
            std::env::temp_dir().join(format!("rarvm-web-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&downloads);
        std::fs::create_dir_all(&downloads).expect("a download directory");
        let mut b = Browser {
            children,
            driver,
            session: String::new(),
            url: format!("http://127.0.0.1:{web}/"),
            downloads,
        };
        wait_for_port(web, "the page server");
        wait_for_port(driver, "chromedriver");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,900",
                         "--no-first-run", "--disable-extensions"],
                "prefs": {"download.default_directory": b.downloads,
                          "download.prompt_for_download": false}
            }
        }}});
        let answer = http(driver, "POST", "/session", Some(&caps));
        b.session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        let url = b.url.clone();
        b.cmd("POST", "url", json!({ "url": url }));
        b.until(
            "the page loads",
            "return document.body.dataset.ready === '1'",
        );
        Some(b)
    }

    fn cmd(&self, method: &str, what: &str, body: Value) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let answer = http(
            self.driver,
            method,
            &path,
            (method == "POST").then_some(&body),
        );
        assert!(answer["value"].get("error").is_none(), "{what}: {answer}");
        answer["value"].clone()
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    fn text(&self, id: &str) -> String {
        self.js(&format!(
            "return document.getElementById('{id}').textContent"
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    fn set(&self, id: &str, value: &str) {
        self.js(&format!(
            "const e = document.getElementById('{id}'); e.value = {}; e.dispatchEvent(new Event('change'));",
            Value::from(value)
        ));
    }

    fn element(&self, id: &str) -> String {
        let v = self.cmd(
            "POST",
            "element",
            json!({"using": "css selector", "value": format!("#{id}")}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element")
            .to_string()
    }

    /// Clicks the element as a person would (WebDriver element click).
    fn click(&self, id: &str) {
        let e = self.element(id);
        self.cmd("POST", &format!("element/{e}/click"), json!({}));
    }

    fn until(&self, what: &str, script: &str) {
        let start = Instant::now();
        while self.js(script) != Value::Bool(true) {
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting until {what}; status {:?}, errors {:?}",
                self.text("status"),
                self.text("errors")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn until_text(&self, id: &str, want: &str) {
        self.until(
            &format!("#{id} reads {want:?}"),
            &format!(
                "return document.getElementById('{id}').textContent === {}",
                Value::from(want)
            ),
        );
    }

    fn example(&self, name: &str) {
        self.set("example", name);
        assert_eq!(
            self.js("return document.getElementById('name').value"),
            name
        );
    }

    fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "screenshot", Value::Null);
        std::fs::write(path, base64(b64.as_str().expect("base64"))).expect("writes the screenshot");
    }

    /// The bytes of the downloaded file `name`, once complete.
    fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.join(name);
        let start = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                if !bytes.is_empty() {
                    return bytes;
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "{} was not downloaded",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(|| {
                http(
                    self.driver,
                    "DELETE",
                    &format!("/session/{}", self.session),
                    None,
                )
            });
        }
        // chromedriver's shutdown quits every browser it started, even one whose session
        // never answered; killing it would leave them running.
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.driver)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read(&mut [0u8; 256]);
        }
        let start = Instant::now();
        while self.children[1].try_wait().ok().flatten().is_none()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.downloads);
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .map(value)
        .collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// `rarvm ARGS --json`, parsed.
fn cli(args: &[&str]) -> Value {
    let out = Command::new(RARVM)
        .arg(args[0])
        .arg("--json")
        .args(&args[1..])
        .current_dir(root())
        .output()
        .expect("rarvm runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rarvm {args:?}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn the_page_runs_asks_and_moves_images_to_and_from_the_cli() {
    let Some(b) = Browser::start("page") else {
        return;
    };

    // The showcase.
    b.example("sandbox.et");
    b.set("args", "41");
    b.click("run");
    b.until_text("result", "42");
    assert_eq!(b.text("status"), "returned");

    // A compile error, shown with its line and column.
    b.set("source", "def main(x):\n    return y\n");
    b.click("run");
    b.until(
        "an error shows",
        "return document.getElementById('errors').textContent !== ''",
    );
    let errors = b.text("errors");
    assert!(errors.starts_with("sandbox.et:2:12: "), "{errors}");

    // Out of gas at the CLI's budget and memory: the dialog asks; its snapshot has the
    // bytes of the CLI's; granting more finishes the run.
    let dir = b.downloads.join("cli");
    std::fs::create_dir_all(&dir).expect("a directory");
    let cli_img = dir.join("fib.img");
    let cli_img = cli_img.to_str().expect("a UTF-8 path");
    let run = cli(&[
        "run",
        "examples/fib.rasm",
        "--gas",
        "1000000",
        "--snapshot",
        cli_img,
        "--",
        "25",
    ]);
    assert_eq!(run["status"], "out_of_gas");
    b.example("fib.rasm");
    b.set("args", "25");
    b.set("gas", "1000000");
    b.set("mem", "67108864");
    b.click("run");
    b.until(
        "the dialog asks",
        "return document.getElementById('dialog').open",
    );
    assert!(
        b.text("question").contains("ran out of gas"),
        "{}",
        b.text("question")
    );
    b.click("snapshot");
    b.until_text("hash", run["image_hash"].as_str().expect("a hash"));
    let bytes = b.downloaded("fib.img");
    assert_eq!(bytes, std::fs::read(cli_img).expect("the CLI's image"));
    b.set("gas", "10000000000");
    b.click("grant");
    b.until_text("result", "75025");
    assert!(!b
        .js("return document.getElementById('dialog').open")
        .as_bool()
        .unwrap_or(true));

    // The CLI's image, loaded in the page and resumed, ends as `rarvm resume` ends it.
    let resumed = dir.join("resumed.img");
    let resumed = resumed.to_str().expect("a UTF-8 path");
    let done = cli(&[
        "resume",
        cli_img,
        "--gas",
        "10000000000",
        "--snapshot",
        resumed,
    ]);
    assert_eq!(done["status"], "returned");
    let load = b.element("load");
    b.cmd(
        "POST",
        &format!("element/{load}/value"),
        json!({ "text": cli_img }),
    );
    b.until_text("hash", run["image_hash"].as_str().expect("a hash"));
    b.until_text("status", "out_of_gas at fib:11");
    b.click("resume");
    b.until_text("result", "75025");
    b.click("download");
    b.until_text("hash", done["image_hash"].as_str().expect("a hash"));

    // Paused, stepped and resumed in small slices, a run ends in the image of one run.
    let sieve = dir.join("sieve.img");
    let sieve = sieve.to_str().expect("a UTF-8 path");
    let one = cli(&[
        "run",
        "examples/sieve.rasm",
        "--snapshot",
        sieve,
        "--",
        "100000",
    ]);
    assert_eq!(one["stack"], json!([9592]));
    b.example("sieve.rasm");
    b.set("gas", "10000000000");
    b.set("slice", "2000");
    b.click("run");
    b.click("pause");
    b.until(
        "the page pauses",
        "return document.getElementById('pause').disabled",
    );
    let used = |b: &Browser| b.text("gas_used").parse::<u64>().expect("gas used");
    let paused_at = used(&b);
    assert!(paused_at < 3_947_396, "paused before the end");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(used(&b), paused_at, "a paused run does not go on");
    b.click("step");
    let stepped = used(&b);
    // One slice, and the few gas the last slice left unspent (less than one block).
    assert!(
        stepped > paused_at && stepped < paused_at + 2 * 2000,
        "{paused_at} {stepped}"
    );
    b.click("resume");
    b.until_text("result", "9592");
    b.click("download");
    b.until_text("hash", one["image_hash"].as_str().expect("a hash"));
    b.set("slice", "200000");

    // A console granted without the right to write: the page asks before each write, as
    // `--ask` asks on the terminal, and the program sees each answer.
    b.example("hello.et");
    assert_eq!(
        b.js("return document.getElementById('console').value"),
        "ask"
    );
    b.set("args", "3");
    b.click("run");
    for answer in ["once", "deny", "always"] {
        b.until(
            "the dialog asks for the right",
            "return document.getElementById('dialog').open && !document.getElementById('once').hidden",
        );
        let question = b.text("question");
        assert!(
            question.contains(r#"wants "console.write" on "the page's console" but grant "console" does not allow write"#),
            "{question}"
        );
        b.click(answer);
    }
    b.until_text("result", "2 1");
    assert_eq!(
        b.text("output"),
        "hello from inside the sandbox\n".repeat(2)
    );

    // A tree of sandboxes stopped out of gas, for the README's picture.
    b.example("nested.et");
    b.set("args", "3");
    b.set("gas", "5000");
    b.click("run");
    b.until(
        "the dialog asks",
        "return document.getElementById('dialog').open",
    );
    let rows = b.js("return document.querySelectorAll('#tree tbody tr').length");
    assert_eq!(rows, 4, "root and three nested children");
    // Words cross as strings: an unlimited memory limit reads exactly.
    let limit = b.js(
        "return document.querySelector('#tree tbody tr:nth-child(2) td:nth-child(6)').textContent",
    );
    assert_eq!(limit, u64::MAX.to_string());
    b.screenshot(&root().join("docs/web.png"));
}
