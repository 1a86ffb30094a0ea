use std::net::TcpListener;

use super::*;
use crate::config::BitrateMode;

fn output(port: u16) -> (IcecastSender, Arc<StreamLink>) {
    let config = IcecastConfig::local(port, "/live.mp3", 128);
    let settings = Mp3Settings {
        input_rate: 44_100,
        stream_rate: 44_100,
        bitrate: 128,
        mode: BitrateMode::Cbr,
    };
    let link = Arc::new(StreamLink::default());
    let output = IcecastSender::new("stream", &config, settings, link.clone());
    (output, link)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Hands the sender a chunk every 10 ms for `time`, as its encoder would.
fn run(output: &mut IcecastSender, time: Duration) {
    let chunk = Mp3Chunk::new(&[0u8; 418], 441);
    let until = Instant::now() + time;
    while Instant::now() < until {
        output.deliver(&chunk);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_server_that_answers_again_is_tried_at_once_however_long_the_backoff() {
    // Bad input: a port nobody listens on, after enough failures that
    // the next attempt is the full 30 s away.
    let port = free_port();
    let (mut output, link) = output(port);
    output.failures = 10;
    run(&mut output, Duration::from_millis(300));
    assert_eq!(link.failed_attempts.load(Ordering::Relaxed), 1);
    let Connection::Retrying {
        reason,
        next_attempt,
    } = link.connection()
    else {
        panic!("expected retrying, got {:?}", link.connection());
    };
    assert!(reason.contains("cannot reach"), "{reason}");
    assert!(
        next_attempt > Utc::now() + Duration::from_secs(25),
        "{next_attempt}"
    );

    // Still nobody there: no attempt, only the cheap checks.
    run(&mut output, Duration::from_millis(2500));
    assert_eq!(link.failed_attempts.load(Ordering::Relaxed), 1);

    // Something answers on the port: an attempt is made within about a
    // second (it is no Icecast server, so it hangs up or times out).
    let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
    server.set_nonblocking(true).unwrap();
    let came = Instant::now();
    let mut accepted = None;
    while accepted.is_none() && came.elapsed() < Duration::from_secs(3) {
        run(&mut output, Duration::from_millis(20));
        // The check's own connect is accepted and closed first; the
        // source's connection is the one that sends a request.
        while let Ok((mut socket, _)) = server.accept() {
            use std::io::Read;
            socket.set_nonblocking(false).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut request = [0u8; 64];
            if socket.read(&mut request).is_ok_and(|n| n > 0) {
                accepted = Some((came.elapsed(), request));
            }
        }
    }
    let (took, request) = accepted.expect("no connection attempt within 3 s");
    assert!(took < Duration::from_millis(1600), "took {took:?}");
    assert!(
        String::from_utf8_lossy(&request).contains("/live.mp3"),
        "{:?}",
        String::from_utf8_lossy(&request)
    );
}

#[test]
fn a_server_that_hangs_up_on_the_source_is_left_to_the_backoff() {
    // Bad input: a server that answers but refuses (here: hangs up on
    // every request). Its port always answers, so checking on it must
    // not turn the backoff into one attempt a second.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    server.set_nonblocking(true).unwrap();
    let closer = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            if let Ok((socket, _)) = server.accept() {
                drop(socket);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let (mut output, link) = output(port);
    output.failures = 10;
    run(&mut output, Duration::from_millis(3500));
    closer.join().unwrap();
    let attempts = link.failed_attempts.load(Ordering::Relaxed);
    assert_eq!(attempts, 1, "{:?}", link.connection());
}

#[test]
fn a_sender_without_chunks_still_retries_when_due_and_stops_when_its_queue_closes() {
    // Bad input: a port nobody listens on, and an encoder that hands out
    // nothing: the attempts come when the backoff says (0, 0.5 and 1.5 s),
    // not when a chunk happens to arrive.
    let (output, link) = output(free_port());
    let queue = Arc::new(ChunkQueue::new(44_100).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (queue, stop) = (queue.clone(), stop.clone());
        std::thread::spawn(move || output.run(&queue, &stop))
    };
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(link.failed_attempts.load(Ordering::Relaxed), 3);

    let closed = Instant::now();
    queue.close();
    sender.join().unwrap();
    assert!(
        closed.elapsed() < Duration::from_millis(500),
        "{:?}",
        closed.elapsed()
    );
}
