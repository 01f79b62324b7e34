//! Graceful stop, TLS, and SIGTERM of the real binary.

use std::path::Path;

use super::*;
use crate::util::tls;

#[test]
fn graceful_stop_finishes_in_flight_requests() {
    let _serial = serial();
    let mut server = TestServer::start(test_limits());
    let addr = server.addr;
    let mut idle = Client::connect(addr).expect("connect");
    assert_eq!(idle.send("GET", "/", &[], b"").expect("idle").status, 200);
    let in_flight = std::thread::spawn(move || {
        Client::connect(addr).and_then(|mut c| c.send("GET", "/sleep", &[], b""))
    });
    assert!(eventually(Duration::from_secs(3), || server
        .service
        .sleeping
        .load(Ordering::SeqCst)));
    let stopping = Instant::now();
    assert!(server.stop().is_ok(), "run returns Ok");
    let response = in_flight
        .join()
        .expect("client thread")
        .expect("in-flight answer");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "slept");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        stopping.elapsed()
    );
    // The idle keep-alive connection was closed, and nobody new gets in.
    assert!(read_until_closed(idle.stream(), Duration::from_secs(1)).is_empty());
    assert!(
        TcpStream::connect(addr).is_err(),
        "connections are refused after stop"
    );
}

#[test]
fn tls_serves_https_and_load_tls_explains_bad_files() {
    let _serial = serial();
    let issued = tls::self_signed();
    let other = tls::self_signed();
    let (cert_path, key_path) = (Path::new(&issued.cert_path), Path::new(&issued.key_path));
    let other_key_path = Path::new(&other.key_path);

    let missing = cert_path.with_file_name("missing.pem");
    let error = load_tls(&missing, key_path).expect_err("missing cert refused");
    assert!(error.starts_with("cannot read TLS certificate"), "{error}");
    assert!(error.contains("missing.pem"), "{error}");
    let error = load_tls(cert_path, other_key_path).expect_err("wrong key refused");
    assert!(error.contains("does not match"), "{error}");
    let error = load_tls(key_path, key_path).expect_err("key as cert refused");
    assert!(error.starts_with("no certificate found in"), "{error}");

    let config = load_tls(cert_path, key_path).expect("valid cert and key");
    let server = TestServer::start_with(test_limits(), Some(config));
    let mut tls = tls::connect(server.addr, &issued.cert, "localhost");
    for _ in 0..2 {
        let request = client::render_request("localhost", "GET", "/id", &[], b"");
        tls.get_mut().write_all(&request).expect("request over TLS");
        let response = client::read_response(&mut tls, false).expect("response over TLS");
        assert_eq!(response.status, 200);
        assert!(
            response.text().ends_with("|true"),
            "handler saw HTTPS: {}",
            response.text()
        );
    }
    // Plain HTTP on the TLS port gets nowhere.
    let mut plain = Client::connect(server.addr).expect("connect");
    assert!(plain.send("GET", "/", &[], b"").is_err());
}

#[test]
fn sigterm_stops_the_real_binary_cleanly() {
    let _serial = serial();
    let mut server = crate::util::Server::start();
    let mut idle = Client::connect(server.addr).expect("connect");
    let response = idle.send("GET", "/healthz", &[], b"").expect("healthz");
    assert_eq!(response.status, 200);
    let stopping = Instant::now();
    let status = server.stop();
    assert!(
        status.success(),
        "exit status {status:?}; output: {}",
        server.output()
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "SIGTERM took {:?}",
        stopping.elapsed()
    );
    assert!(read_until_closed(idle.stream(), Duration::from_secs(1)).is_empty());
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "nothing listens after exit"
    );
}
