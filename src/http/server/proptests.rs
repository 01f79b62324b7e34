//! Property tests of the wire's decoders of untrusted input: the request-head parser and the
//! chunked-body decoder, on valid inputs made by a correct encoder, on those inputs with one
//! byte changed, and on random bytes, each delivered in random pieces. The rules themselves
//! are in `crate::fuzzing::checks`, shared with the fuzz targets in tests/fuzz/.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::fuzzing::checks::{FUZZ_MAX_BODY, check_chunked_body, check_request_head};
use crate::fuzzing::{Delivery, MAX_HEAD_BYTES, chunked_body, request_head};

fn delivery() -> impl Strategy<Value = Delivery> {
    (0usize..300, 1usize..300).prop_map(|(buffered, max_read)| Delivery { buffered, max_read })
}

/// A valid head (request line, headers, blank line), its method, target and headers.
type ValidHead = (Vec<u8>, String, String, Vec<(String, String)>);

fn valid_head() -> impl Strategy<Value = ValidHead> {
    let header = ("X-[A-Za-z0-9-]{1,12}", "[!-~]([ -~]{0,30}[!-~])?");
    (
        "[A-Z]{1,8}",
        "/[!-~]{0,40}",
        vec(header, 0..6),
        any::<bool>(),
    )
        .prop_map(|(method, target, headers, bare_lf)| {
            let eol = if bare_lf { "\n" } else { "\r\n" };
            let mut text = format!("{method} {target} HTTP/1.1{eol}");
            for (name, value) in &headers {
                text.push_str(&format!("{name}: {value}{eol}"));
            }
            text.push_str(eol);
            (text.into_bytes(), method, target, headers)
        })
}

/// A chunked body encoded correctly, with the data it carries: random chunk boundaries, hex
/// digits in either case, some extensions and a trailer.
fn chunked() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        vec(
            (vec(any::<u8>(), 1..200), any::<bool>(), any::<bool>()),
            0..6,
        ),
        any::<bool>(),
    )
        .prop_map(|(chunks, trailer)| {
            let mut encoded = Vec::new();
            let mut data = Vec::new();
            for (chunk, upper, extension) in chunks {
                let size = if upper {
                    format!("{:X}", chunk.len())
                } else {
                    format!("{:x}", chunk.len())
                };
                encoded.extend_from_slice(size.as_bytes());
                if extension {
                    encoded.extend_from_slice(b";name=\"value\"");
                }
                encoded.extend_from_slice(b"\r\n");
                encoded.extend_from_slice(&chunk);
                encoded.extend_from_slice(b"\r\n");
                data.extend_from_slice(&chunk);
            }
            encoded.extend_from_slice(b"0\r\n");
            if trailer {
                encoded.extend_from_slice(b"X-Checksum: 1\r\n");
            }
            encoded.extend_from_slice(b"\r\n");
            (encoded, data)
        })
}

fn mutate(mut bytes: Vec<u8>, at: prop::sample::Index, byte: u8) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = at.index(bytes.len());
        bytes[i] = byte;
    }
    bytes
}

proptest! {
    #![proptest_config(crate::fuzzing::proptest_config(200, "tests/proptest-regressions/http-server.txt"))]

    #[test]
    fn a_valid_head_reads_as_its_own_method_target_and_headers(
        (bytes, method, target, headers) in valid_head(),
        next_request in vec(any::<u8>(), 0..40),
        delivery in delivery(),
    ) {
        let head_len = bytes.len();
        let input = [bytes, next_request].concat();
        let (head, consumed) = request_head(&input, delivery, MAX_HEAD_BYTES).expect("valid");
        prop_assert_eq!(consumed, head_len);
        prop_assert_eq!(head.method, method);
        prop_assert_eq!(head.target, target);
        prop_assert_eq!(head.headers, headers);
        check_request_head(&input, delivery);
    }

    #[test]
    fn a_head_with_one_byte_changed_is_refused_or_read_as_it_says(
        (bytes, ..) in valid_head(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        delivery in delivery(),
    ) {
        check_request_head(&mutate(bytes, at, byte), delivery);
    }

    #[test]
    fn random_bytes_as_a_head_are_refused_or_read_as_they_say(
        prefix in prop::sample::select(vec!["", "GET / HTTP/1.1\r\n", "POST /a HTTP/1.0\r\n"]),
        rest in vec(any::<u8>(), 0..300),
        delivery in delivery(),
    ) {
        check_request_head(&[prefix.as_bytes(), &rest].concat(), delivery);
    }

    #[test]
    fn a_correctly_chunked_body_decodes_to_its_data(
        (encoded, data) in chunked(),
        next_request in vec(any::<u8>(), 0..40),
        delivery in delivery(),
    ) {
        let input = [encoded.clone(), next_request].concat();
        let (body, consumed) = chunked_body(&input, delivery, FUZZ_MAX_BODY).expect("valid");
        prop_assert_eq!(body, data);
        prop_assert_eq!(consumed, encoded.len());
        check_chunked_body(&input, delivery);
    }

    #[test]
    fn a_chunked_body_with_one_byte_changed_decodes_as_the_grammar_says(
        (encoded, _) in chunked(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"\r\n;0 \tAf9xZ\x00\xff".to_vec()),
        delivery in delivery(),
    ) {
        check_chunked_body(&mutate(encoded, at, byte), delivery);
    }

    #[test]
    fn random_bytes_as_a_chunked_body_decode_as_the_grammar_says(
        input in vec(prop::sample::select(b"\r\n;0123abcdefABx \t".to_vec()), 0..200),
        delivery in delivery(),
    ) {
        check_chunked_body(&input, delivery);
    }
}

/// Inputs the reference reading refuses that the decoder accepted before `chunk_line_ok`; the
/// same bytes (with their delivery) are under tests/fuzz/regressions/chunked_body/.
#[test]
fn chunk_lines_without_digits_or_with_a_bare_lf_are_refused() {
    let cases: [&[u8]; 3] = [
        b"\r\n\r\n",
        b";ext\r\n\r\n",
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",
    ];
    for input in cases {
        assert!(
            chunked_body(input, Delivery::WHOLE, FUZZ_MAX_BODY).is_err(),
            "{input:?}"
        );
    }
}

/// A chunk line longer than the limit is refused whether or not it arrived in one piece.
#[test]
fn a_long_chunk_line_is_refused_however_it_is_buffered() {
    let input = [b"5;".as_slice(), &[b'x'; 5000], b"\r\nhello\r\n0\r\n\r\n"].concat();
    for buffered in [0, 6000] {
        let delivery = Delivery {
            buffered,
            max_read: 1 << 20,
        };
        assert!(
            chunked_body(&input, delivery, FUZZ_MAX_BODY).is_err(),
            "buffered {buffered}"
        );
    }
}

/// Found by the request_head fuzz target (kept in tests/fuzz/regressions/request_head/): an
/// empty line before the request line (a client's stray CRLF after a body) ended the "head"
/// there, so the request was read when it came in one piece and refused when it did not.
#[test]
fn empty_lines_before_the_request_line_are_skipped_however_the_bytes_arrive() {
    let input = b"\r\n\r\nGET /inbox HTTP/1.1\r\nHost: a\r\n\r\n";
    for max_read in [1, 3, 8, 1 << 20] {
        let delivery = Delivery {
            buffered: 0,
            max_read,
        };
        let (head, consumed) = request_head(input, delivery, MAX_HEAD_BYTES).expect("read");
        assert_eq!(
            (head.target.as_str(), consumed),
            ("/inbox", input.len()),
            "{delivery:?}"
        );
    }
}
