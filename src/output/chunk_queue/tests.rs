use super::*;

fn chunk(frames: u64, tag: u8) -> Mp3Chunk {
    Mp3Chunk::new(&[tag; 4], frames)
}

fn drain(queue: &ChunkQueue) -> Vec<u8> {
    std::iter::from_fn(|| queue.pop(Duration::ZERO))
        .map(|c| c.bytes()[0])
        .collect()
}

#[test]
fn a_full_queue_drops_the_oldest_chunks_and_counts_them() {
    let queue = ChunkQueue::new(4800).unwrap();
    for tag in 0..4 {
        assert_eq!(queue.push(chunk(1152, tag)), Dropped::default());
    }
    assert_eq!(queue.frames(), 4608);
    // The fifth does not fit: the oldest goes, the newest stays.
    let dropped = queue.push(chunk(1152, 4));
    assert_eq!(
        dropped,
        Dropped {
            chunks: 1,
            frames: 1152
        }
    );
    assert_eq!(queue.frames(), 4608);
    assert_eq!(drain(&queue), [1, 2, 3, 4]);
    assert_eq!(queue.frames(), 0);
}

#[test]
fn a_queue_of_size_zero_is_refused_with_the_fix() {
    // Bad input: a queue that could never hold anything.
    let message = match ChunkQueue::new(0) {
        Ok(_) => panic!("a queue of 0 frames was made"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("0 frames"), "{message}");
    assert!(message.contains("give it at least"), "{message}");
}

#[test]
fn a_chunk_larger_than_the_queue_replaces_everything_before_it() {
    // Bad input: one chunk carrying more programme than the queue holds.
    let queue = ChunkQueue::new(2000).unwrap();
    queue.push(chunk(1000, 1));
    queue.push(chunk(900, 2));
    let dropped = queue.push(chunk(5000, 3));
    assert_eq!(
        dropped,
        Dropped {
            chunks: 2,
            frames: 1900
        }
    );
    assert_eq!(queue.frames(), 5000);
    // The next chunk pushes the oversized one out in turn.
    let dropped = queue.push(chunk(100, 4));
    assert_eq!(dropped.frames, 5000);
    assert_eq!(drain(&queue), [4]);
}

#[test]
fn a_waiting_sender_wakes_for_a_chunk_and_for_the_end() {
    let queue = Arc::new(ChunkQueue::new(48_000).unwrap());
    let waiter = {
        let queue = queue.clone();
        std::thread::spawn(move || {
            let first = queue.pop(Duration::from_secs(5)).map(|c| c.bytes()[0]);
            let started = Instant::now();
            let second = queue.pop(Duration::from_secs(5));
            (first, second.is_none(), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    queue.push(chunk(1152, 7));
    std::thread::sleep(Duration::from_millis(50));
    queue.close();
    let (first, ended, waited) = waiter.join().unwrap();
    assert_eq!(first, Some(7));
    assert!(ended);
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert!(queue.is_finished());
}

#[test]
fn a_sender_with_nothing_to_do_sleeps_until_its_deadline() {
    let queue = ChunkQueue::new(48_000).unwrap();
    let started = Instant::now();
    assert!(
        queue
            .pop_until(started + Duration::from_millis(120))
            .is_none()
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(120), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

#[test]
fn the_pool_reuses_a_buffer_once_every_sender_has_let_it_go() {
    let mut pool = ChunkPool::with_buffers(1);
    let first = pool.chunk(&[1; 600], 1152);
    let held = first.clone();
    drop(first);
    // A sender still holds the first chunk: the second needs a buffer of its own.
    let second = pool.chunk(&[2; 700], 1152);
    assert_eq!(pool.buffers(), 2);
    assert_eq!(held.bytes(), [1; 600]);
    assert_eq!(second.bytes(), [2; 700]);
    drop(held);
    drop(second);
    // Both let go: a steady stream turns over the buffers it has.
    for tag in 0..50u8 {
        let chunk = pool.chunk(&[tag; 640], 1152);
        let queued = chunk.clone();
        assert_eq!(queued.bytes(), [tag; 640]);
        assert_eq!(chunk.frames, 1152);
    }
    assert_eq!(pool.buffers(), 2);
}

#[test]
fn a_chunk_keeps_its_bytes_while_the_pool_moves_on() {
    let mut pool = ChunkPool::with_buffers(0);
    let queued: Vec<Mp3Chunk> = (0..10u8).map(|tag| pool.chunk(&[tag; 417], 1152)).collect();
    for _ in 0..10 {
        let _ = pool.chunk(&[0xFF; 5000], 1152);
    }
    for (tag, chunk) in queued.iter().enumerate() {
        assert_eq!(chunk.bytes(), [tag as u8; 417]);
    }
    assert_eq!(pool.buffers(), 11);
}
