//! Slowloris, connection and per-IP bounds, and clients that never read.

use super::*;

#[test]
fn slowloris_is_bounded_and_cut_off_at_the_header_deadline() {
    let _serial = serial();
    let limits = Limits {
        max_connections_per_ip: 64,
        ..test_limits()
    };
    let server = TestServer::start(limits);
    let mut tricklers: Vec<TcpStream> = (0..200)
        .map(|_| client::tcp_from(OTHER_IP, server.addr).expect("trickler connects"))
        .collect();
    let started = Instant::now();
    let mut open: Vec<bool> = vec![true; tricklers.len()];
    let mut probed = false;
    // 1 s of trickling a byte per 100 ms on each connection: not enough to finish a head.
    let prefix = b"GET / HTTP/1.1\r\nX:";
    for tick in 0..10 {
        for (stream, alive) in tricklers.iter_mut().zip(open.iter_mut()) {
            let byte = prefix.get(tick).copied().unwrap_or(b'a');
            if *alive && stream.write(&[byte]).is_err() {
                *alive = false;
            }
        }
        if tick == 5 && !probed {
            let (response, took) = timed_get(server.addr, "/");
            assert_eq!(response.status, 200);
            assert!(
                took < Duration::from_secs(1),
                "/ took {took:?} under slowloris"
            );
            probed = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every trickler is closed by header_timeout (2 s) plus a little: the 64 admitted ones
    // with a 408 or a bare close, the others at once with a 503 or a close.
    for stream in &mut tricklers {
        let seen = read_until_closed(stream, Duration::from_secs(4));
        assert!(
            seen.is_empty()
                || seen.starts_with(b"HTTP/1.1 408")
                || seen.starts_with(b"HTTP/1.1 503"),
            "got {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "tricklers lived {took:?}");
}

#[test]
fn connection_threads_are_bounded() {
    let _serial = serial();
    let limits = Limits {
        max_connections: 32,
        max_connections_per_ip: 1000,
        header_timeout: Duration::from_secs(10),
        ..test_limits()
    };
    let server = TestServer::start(limits);
    // No request first: its connection could free its slot while the 100 are accepted and
    // let a 33rd in.
    let before = threads();
    let mut idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    // The last 68 are turned away; poll until they all are.
    let mut n_refused = 0;
    for stream in idle[32..].iter_mut() {
        if refused(stream) {
            n_refused += 1;
        }
    }
    assert_eq!(n_refused, 68);
    let grown = threads().saturating_sub(before);
    assert!(
        grown <= 32 + 4,
        "threads grew by {grown} for 32 admitted connections"
    );
    assert!(
        grown >= 16,
        "admitted connections should each have a thread, grew {grown}"
    );
    // The admitted ones are still being served.
    let mut first = Client::from_stream(idle.swap_remove(0), server.addr).expect("client");
    assert_eq!(
        first.send("GET", "/", &[], b"").expect("admitted").status,
        200
    );
}

#[test]
fn connections_per_ip_are_capped() {
    let _serial = serial();
    let limits = Limits {
        max_connections_per_ip: 4,
        ..test_limits()
    };
    let server = TestServer::start(limits);
    let mut admitted: Vec<Client> = (0..4)
        .map(|_| Client::connect_from(OTHER_IP, server.addr).expect("connect"))
        .collect();
    for client in &mut admitted {
        assert_eq!(
            client.send("GET", "/", &[], b"").expect("admitted").status,
            200
        );
    }
    let mut fifth = client::tcp_from(OTHER_IP, server.addr).expect("connect");
    let _ = fifth.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        refused(&mut fifth),
        "fifth connection from 127.0.0.2 was served"
    );
    assert_eq!(
        client::get(server.addr, "/").status,
        200,
        "127.0.0.1 unaffected"
    );
    // A freed slot can be used again.
    drop(admitted.pop());
    let mut again = None;
    eventually(Duration::from_secs(3), || {
        let response = Client::connect_from(OTHER_IP, server.addr)
            .and_then(|mut c| c.send("GET", "/", &[], b""));
        again = response.ok().map(|r| r.status);
        again == Some(200)
    });
    assert_eq!(again, Some(200));
}

#[test]
fn slow_readers_are_dropped_after_the_write_timeout() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut readers: Vec<TcpStream> = (0..50)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            socket
                .set_recv_buffer_size(4096)
                .expect("small receive buffer");
            socket.connect(&server.addr.into()).expect("connect");
            let mut stream: TcpStream = socket.into();
            stream
                .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
                .expect("request");
            stream
        })
        .collect();
    let (response, took) = timed_get(server.addr, "/");
    assert_eq!(response.status, 200);
    assert!(
        took < Duration::from_secs(1),
        "/ took {took:?} with 50 stalled readers"
    );
    // Each stalled exchange is logged when the server gives up on it (write_timeout 2 s).
    let all_dropped = eventually(Duration::from_secs(5), || {
        server.service.logged("/big") == 50
    });
    assert!(
        all_dropped,
        "only {} slow readers dropped",
        server.service.logged("/big")
    );
    for stream in &mut readers {
        let seen = read_until_closed(stream, Duration::from_secs(10));
        assert!(seen.len() < BIG_SIZE, "a slow reader got the whole body");
    }
}
