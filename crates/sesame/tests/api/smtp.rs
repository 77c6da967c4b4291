//! A small real SMTP server for the email tests: it listens on `127.0.0.1` (a free port, or a
//! given one so a test can bring "the mail server" up where the application already points),
//! speaks enough plain SMTP for lettre (no STARTTLS), records every message it accepts, and can be
//! told to refuse recipients with a permanent (550) or transient (451) reply.
//!
//! The parsing helpers read what lettre writes: a `multipart/alternative` message whose parts are
//! `7bit`, `quoted-printable` or `base64` depending on the content (lettre picks per part).

use base64::Engine as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long a test waits for mail before it fails.
pub const MAIL_DEADLINE: Duration = Duration::from_secs(10);

/// How the sink answers `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// `550` — the recipient is refused for good.
    RejectPermanently,
    /// `451` — try again later.
    RejectTransiently,
}

/// One message as it arrived: the envelope and the raw DATA (dot-stuffing undone).
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    /// Every `RCPT TO` address seen, accepted or not, in order.
    rcpt_attempts: Mutex<Vec<String>>,
    mode: Mutex<Option<Mode>>,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

/// A running SMTP sink. Dropping it stops it and closes its connections.
pub struct SmtpSink {
    port: u16,
    /// `smtp_url(port)`, kept so [`SmtpSink::serve_flags`] can lend it.
    url: String,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// A port on 127.0.0.1 that nothing listens on (bound once to find it, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The `--smtp-url` for a plain SMTP server on `port`.
pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}?tls=none")
}

impl SmtpSink {
    /// Starts on a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts on `port` (0 for any free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("SMTP sink cannot listen on port {port}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        *shared.mode.lock().unwrap() = Some(Mode::Accept);
        let s = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = tokio::spawn(serve(stream, Arc::clone(&s)));
                s.connections.lock().unwrap().push(conn);
            }
        });
        Self {
            port,
            url: smtp_url(port),
            shared,
            accept,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `serve` flags that make a server deliver to this sink, polling its outbox every 50 ms.
    pub fn serve_flags(&self) -> [&str; 6] {
        [
            "--mail-transport",
            "smtp",
            "--smtp-url",
            &self.url,
            "--mail-poll-interval",
            "50ms",
        ]
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    /// Every message accepted so far, parsed.
    pub fn messages(&self) -> Vec<Mail> {
        self.shared
            .messages
            .lock()
            .unwrap()
            .iter()
            .map(Mail::parse)
            .collect()
    }

    /// The accepted messages whose envelope names `address`.
    pub fn messages_to(&self, address: &str) -> Vec<Mail> {
        self.messages()
            .into_iter()
            .filter(|m| m.envelope_to.iter().any(|r| r == address))
            .collect()
    }

    /// Every `RCPT TO` address seen, refused ones included.
    pub fn rcpt_attempts(&self) -> Vec<String> {
        self.shared.rcpt_attempts.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived and returns all of them; panics after
    /// [`MAIL_DEADLINE`].
    pub async fn wait_for_messages(&self, n: usize) -> Vec<Mail> {
        self.wait_for_messages_until(n, Instant::now() + MAIL_DEADLINE)
            .await
    }

    /// As [`SmtpSink::wait_for_messages`] with an explicit deadline.
    pub async fn wait_for_messages_until(&self, n: usize, deadline: Instant) -> Vec<Mail> {
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} messages, got {}: {:#?}",
                got.len(),
                got.iter()
                    .map(|m| (&m.envelope_to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the `n`th (1-based) message to `address` and returns it.
    pub async fn wait_for_mail_to(&self, address: &str, n: usize) -> Mail {
        let deadline = Instant::now() + MAIL_DEADLINE;
        loop {
            let mut got = self.messages_to(address);
            if got.len() >= n {
                return got.swap_remove(n - 1);
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} messages to {address}, got {}; all: {:#?}",
                got.len(),
                self.messages()
                    .iter()
                    .map(|m| (&m.envelope_to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
        for c in self.shared.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// The address inside `FROM:<a@b> PARAMS` / `TO:<a@b>`.
fn angle_address(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_owned(),
        _ => arg
            .split_once(':')
            .map_or(arg, |(_, v)| v)
            .trim()
            .to_owned(),
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    macro_rules! reply {
        ($s:expr) => {
            if write.write_all($s.as_bytes()).await.is_err() {
                return;
            }
        };
    }
    reply!("220 sink.test ESMTP test sink\r\n");
    let mut mail_from = String::new();
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match read.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let verb = text
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => reply!("250-sink.test greets you\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"),
            "HELO" => reply!("250 sink.test\r\n"),
            "MAIL" => {
                mail_from = angle_address(&text[4..]);
                rcpt_to.clear();
                reply!("250 OK\r\n");
            }
            "RCPT" => {
                let to = angle_address(&text[4..]);
                shared.rcpt_attempts.lock().unwrap().push(to.clone());
                let mode = shared.mode.lock().unwrap().unwrap_or(Mode::Accept);
                match mode {
                    Mode::Accept => {
                        rcpt_to.push(to);
                        reply!("250 OK\r\n");
                    }
                    Mode::RejectPermanently => {
                        reply!("550 5.1.1 mailbox unavailable (test sink)\r\n")
                    }
                    Mode::RejectTransiently => {
                        reply!("451 4.3.0 try again later (test sink)\r\n")
                    }
                }
            }
            "DATA" => {
                if rcpt_to.is_empty() {
                    reply!("554 no valid recipients\r\n");
                    continue;
                }
                reply!("354 end data with <CR><LF>.<CR><LF>\r\n");
                let mut data = String::new();
                loop {
                    line.clear();
                    match read.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let l = String::from_utf8_lossy(&line);
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    // Undo dot-stuffing: a line starting with "." was sent with one more.
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                shared.messages.lock().unwrap().push(Received {
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                reply!("250 OK queued\r\n");
            }
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                reply!("250 OK\r\n");
            }
            "NOOP" => reply!("250 OK\r\n"),
            "QUIT" => {
                reply!("221 bye\r\n");
                return;
            }
            _ => reply!("502 command not implemented\r\n"),
        }
    }
}

/// A received message, parsed.
#[derive(Debug, Clone)]
pub struct Mail {
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// Top-level headers, unfolded, in order.
    pub headers: Vec<(String, String)>,
    pub subject: String,
    /// The decoded `text/plain` part.
    pub text: String,
    /// The decoded `text/html` part.
    pub html: String,
    pub raw: String,
}

/// Splits a header block from its body and unfolds the headers.
fn split_headers(s: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = s
        .split_once("\r\n\r\n")
        .or_else(|| s.split_once("\n\n"))
        .unwrap_or((s, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A parameter of a structured header such as `Content-Type: …; boundary="x"`.
fn header_param(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Decodes quoted-printable (RFC 2045 §6.7): soft line breaks and `=XX` escapes.
pub fn decode_quoted_printable(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(hex) = s.get(i + 1..i + 3) {
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("quoted-printable body decodes to UTF-8")
}

/// Decodes an RFC 2047 encoded word if the whole value is one (`=?utf-8?b?…?=`).
fn decode_header_value(v: &str) -> String {
    let encoded = |w: &str| w.len() > 4 && w.starts_with("=?") && w.ends_with("?=");
    let decode = |w: &str| {
        let inner = &w[2..w.len() - 2];
        let mut it = inner.splitn(3, '?');
        let (_charset, enc, text) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
        if enc.eq_ignore_ascii_case("b") {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .expect("base64 encoded word"),
            )
            .unwrap()
        } else {
            decode_quoted_printable(&text.replace('_', " "))
        }
    };
    // RFC 2047 §6.2: encoded words may stand among plain ones (lettre encodes only the words that
    // need it); the white space between two adjacent encoded words is not part of the text.
    let mut out = String::new();
    let mut previous_encoded = false;
    for (i, w) in v.split_whitespace().enumerate() {
        let is_encoded = encoded(w);
        if i > 0 && !(previous_encoded && is_encoded) {
            out.push(' ');
        }
        if is_encoded {
            out.push_str(&decode(w));
        } else {
            out.push_str(w);
        }
        previous_encoded = is_encoded;
    }
    out
}

/// Decodes a part body by its `Content-Transfer-Encoding`; line endings become `\n`.
fn decode_body(encoding: Option<&str>, body: &str) -> String {
    let decoded = match encoding.map(str::to_ascii_lowercase).as_deref() {
        Some("quoted-printable") => decode_quoted_printable(body),
        Some("base64") => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 body"),
            )
            .expect("base64 body decodes to UTF-8")
        }
        _ => body.to_owned(),
    };
    decoded.replace("\r\n", "\n")
}

impl Mail {
    pub fn parse(r: &Received) -> Self {
        let (headers, body) = split_headers(&r.data);
        let mut text = String::new();
        let mut html = String::new();
        let content_type = header(&headers, "Content-Type").unwrap_or("text/plain");
        if let Some(boundary) = header_param(content_type, "boundary") {
            let delimiter = format!("--{boundary}");
            for part in body.split(delimiter.as_str()).skip(1) {
                if part.starts_with("--") {
                    break; // the closing delimiter
                }
                let part = part.strip_prefix("\r\n").unwrap_or(part);
                let (ph, pb) = split_headers(part);
                let pb = pb.strip_suffix("\r\n").unwrap_or(pb);
                let ct = header(&ph, "Content-Type").unwrap_or("text/plain");
                let decoded = decode_body(header(&ph, "Content-Transfer-Encoding"), pb);
                if ct.starts_with("text/plain") {
                    text = decoded;
                } else if ct.starts_with("text/html") {
                    html = decoded;
                }
            }
        } else {
            let decoded = decode_body(header(&headers, "Content-Transfer-Encoding"), body);
            if content_type.starts_with("text/html") {
                html = decoded;
            } else {
                text = decoded;
            }
        }
        let subject = header(&headers, "Subject")
            .map(decode_header_value)
            .unwrap_or_default();
        Self {
            envelope_from: r.mail_from.clone(),
            envelope_to: r.rcpt_to.clone(),
            headers,
            subject,
            text,
            html,
            raw: r.data.clone(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The first `http://` or `https://` link in the plain-text part.
    pub fn link(&self) -> Option<String> {
        let start = self
            .text
            .find("http://")
            .or_else(|| self.text.find("https://"))?;
        let rest = &self.text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }

    /// The first link, which the test expects to exist.
    pub fn expect_link(&self) -> String {
        self.link()
            .unwrap_or_else(|| panic!("no link in the mail `{}`: {}", self.subject, self.text))
    }

    /// The `token` query parameter of the first link.
    pub fn token(&self) -> String {
        let link = self.expect_link();
        token_of(&link).unwrap_or_else(|| panic!("no token in {link}"))
    }
}

/// The `token` query parameter of a URL.
pub fn token_of(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "token").then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_escapes_are_undone() {
        assert_eq!(
            decode_quoted_printable("http://a.test/x?token=3Dab=\r\ncd=3D\r\nnext"),
            "http://a.test/x?token=abcd=\r\nnext"
        );
    }
}
