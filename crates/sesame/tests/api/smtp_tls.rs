//! Mail over TLS, as a real mail server offers it: implicit TLS (`smtps://`, RFC 8314 section
//! 3.3) and STARTTLS (`smtp://`, RFC 3207), with a certificate made for the test by a test CA
//! (rcgen) that the server is told to trust through `--smtp-ca-file`. Without that file the
//! certificate is refused and nothing is delivered: TLS is verified, not merely spoken.
//!
//! The TLS side is a front ([`TlsFront`]) before the plain sink of `smtp.rs`: it terminates TLS
//! (answering the greeting, `EHLO` and `STARTTLS` itself in STARTTLS mode) and relays the
//! decrypted conversation to the sink, which records the message as usual.

use crate::helpers::{spawn_app_with, Backend};
use crate::smtp::SmtpSink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Implicit,
    StartTls,
}

/// A test CA, a server certificate it issued for `localhost` and `127.0.0.1`, and the CA
/// certificate as a PEM file.
struct TestPki {
    ca_file: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Sesame test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_file = std::env::temp_dir().join(format!("sesame-ca-{}.pem", uuid::Uuid::now_v7()));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        );
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
        Self {
            ca_file,
            server: Arc::new(server),
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// Handshakes seen by a [`TlsFront`].
#[derive(Default)]
struct Counts {
    completed: AtomicUsize,
    failed: AtomicUsize,
}

/// TLS in front of a plain SMTP sink on `127.0.0.1`.
struct TlsFront {
    port: u16,
    counts: Arc<Counts>,
    accept: JoinHandle<()>,
}

impl TlsFront {
    async fn start(mode: Mode, server: Arc<rustls::ServerConfig>, sink_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let acceptor = TlsAcceptor::from(server);
        let c = Arc::clone(&counts);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, c) = (acceptor.clone(), Arc::clone(&c));
                tokio::spawn(async move {
                    let _ = relay(stream, mode, acceptor, sink_port, c).await;
                });
            }
        });
        Self {
            port,
            counts,
            accept,
        }
    }

    fn completed(&self) -> usize {
        self.counts.completed.load(Ordering::SeqCst)
    }

    /// Waits (up to 10 s) until a handshake has failed.
    async fn wait_for_a_failed_handshake(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.counts.failed.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "no TLS handshake was attempted and refused within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection: TLS (after the STARTTLS exchange in that mode), then a byte relay to the
/// sink, whose own greeting is swallowed (the client had ours).
async fn relay(
    stream: TcpStream,
    mode: Mode,
    acceptor: TlsAcceptor,
    sink_port: u16,
    counts: Arc<Counts>,
) -> std::io::Result<()> {
    let stream = match mode {
        Mode::Implicit => stream,
        Mode::StartTls => {
            let mut conn = BufReader::new(stream);
            conn.get_mut().write_all(b"220 tls-front ESMTP\r\n").await?;
            let mut line = String::new();
            loop {
                line.clear();
                if conn.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let verb = line.trim_end().to_ascii_uppercase();
                if verb.starts_with("EHLO") {
                    conn.get_mut()
                        .write_all(b"250-tls-front\r\n250 STARTTLS\r\n")
                        .await?;
                } else if verb == "STARTTLS" {
                    conn.get_mut().write_all(b"220 go ahead\r\n").await?;
                    break;
                } else {
                    conn.get_mut()
                        .write_all(b"530 5.7.0 must issue STARTTLS first\r\n")
                        .await?;
                }
            }
            // The client waits for our 220 before its handshake: nothing is left buffered.
            conn.into_inner()
        }
    };
    let mut tls = match acceptor.accept(stream).await {
        Ok(tls) => {
            counts.completed.fetch_add(1, Ordering::SeqCst);
            tls
        }
        Err(e) => {
            counts.failed.fetch_add(1, Ordering::SeqCst);
            return Err(e);
        }
    };
    let mut sink = BufReader::new(TcpStream::connect(("127.0.0.1", sink_port)).await?);
    let mut greeting = String::new();
    sink.read_line(&mut greeting).await?;
    if mode == Mode::Implicit {
        tls.write_all(greeting.as_bytes()).await?;
    }
    tokio::io::copy_bidirectional(&mut tls, &mut sink.into_inner()).await?;
    Ok(())
}

fn smtp_url(mode: Mode, port: u16) -> String {
    match mode {
        Mode::Implicit => format!("smtps://localhost:{port}"),
        Mode::StartTls => format!("smtp://localhost:{port}"),
    }
}

async fn delivers_over_tls_trusting_the_configured_ca(b: Backend, mode: Mode) {
    let pki = TestPki::new();
    let sink = SmtpSink::start().await;
    let front = TlsFront::start(mode, Arc::clone(&pki.server), sink.port()).await;
    let url = smtp_url(mode, front.port);
    let ca = pki.ca_file.to_string_lossy().into_owned();
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--mail-transport",
            "smtp",
            "--smtp-url",
            &url,
            "--smtp-ca-file",
            &ca,
            "--mail-poll-interval",
            "50ms",
        ],
    )
    .await;
    app.create_user("tls@example.com").await;
    let mail = sink.wait_for_mail_to("tls@example.com", 1).await;
    assert!(mail.link().is_some(), "the verification mail arrived whole");
    assert!(front.completed() >= 1, "the message went over TLS");
}

async fn an_untrusted_certificate_is_refused_and_nothing_is_delivered(b: Backend, mode: Mode) {
    let pki = TestPki::new();
    let sink = SmtpSink::start().await;
    let front = TlsFront::start(mode, Arc::clone(&pki.server), sink.port()).await;
    let url = smtp_url(mode, front.port);
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--mail-transport",
            "smtp",
            "--smtp-url",
            &url,
            "--mail-poll-interval",
            "50ms",
        ],
    )
    .await;
    app.create_user("untrusted@example.com").await;
    front.wait_for_a_failed_handshake().await;
    assert_eq!(front.completed(), 0);
    assert!(
        sink.messages().is_empty(),
        "mail went to an unverified server"
    );
}

async fn implicit_tls_delivers_trusting_the_configured_ca(b: Backend) {
    delivers_over_tls_trusting_the_configured_ca(b, Mode::Implicit).await;
}

async fn starttls_delivers_trusting_the_configured_ca(b: Backend) {
    delivers_over_tls_trusting_the_configured_ca(b, Mode::StartTls).await;
}

async fn implicit_tls_refuses_an_untrusted_certificate(b: Backend) {
    an_untrusted_certificate_is_refused_and_nothing_is_delivered(b, Mode::Implicit).await;
}

async fn starttls_refuses_an_untrusted_certificate(b: Backend) {
    an_untrusted_certificate_is_refused_and_nothing_is_delivered(b, Mode::StartTls).await;
}

crate::on_every_backend!(
    implicit_tls_delivers_trusting_the_configured_ca,
    starttls_delivers_trusting_the_configured_ca,
    implicit_tls_refuses_an_untrusted_certificate,
    starttls_refuses_an_untrusted_certificate,
);
