//! The studio feed through the real alsa-lib: the box plays to an ALSA
//! device (alsa-lib's `file` plugin standing in for a sound card, paced to
//! real time by ffmpeg reading its pipe), beside a WAV output. What the
//! device received is read back with the Goertzel listener: filler, then the
//! programme starting on its minute, then filler again, with nothing lost.

use crate::common;

use std::path::Path;

use common::*;

const RATE: u32 = 48_000;

/// An ALSA configuration whose default device writes raw f32 stereo into
/// `out`, taken at `pace` frames per real second.
fn asoundrc(home: &Path, out: &Path, pace: u32) {
    std::fs::create_dir_all(home).unwrap();
    let text = format!(
        r#"pcm.!default {{
    type file
    slave.pcm "null"
    file "| exec ffmpeg -nostdin -loglevel error -re -blocksize 3840 -f f32le -ar {pace} -ac 2 -i pipe:0 -c copy -flush_packets 1 -f f32le -y {out}"
    format "raw"
    hint {{ show on description "onair test studio feed" }}
}}
"#,
        out = out.display()
    );
    std::fs::write(home.join(".asoundrc"), text).unwrap();
}

fn read_f32_left(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(8)
        .map(|frame| f32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]))
        .collect()
}

/// The first sample (from `from`) at which `freq` dominates a 10 ms window,
/// refined to the sample by the first non-silent sample after silence.
fn first_window_with(samples: &[f32], from: usize, freq: u32, others: &[u32]) -> Option<usize> {
    let window = RATE as usize / 100;
    let power = |chunk: &[f32], f: u32| goertzel::amplitude(chunk, f, RATE);
    (from..samples.len().saturating_sub(window))
        .step_by(window / 4)
        .find(|&i| {
            let chunk = &samples[i..i + window];
            let p = power(chunk, freq);
            p > 0.05 && others.iter().all(|&o| power(chunk, o) * 4.0 < p)
        })
}

#[test]
fn the_studio_feed_through_alsa_carries_filler_then_the_programme_on_its_minute() {
    let mut s = Station::new("alsa");
    s.clock("2026-03-02 00:59:53", 1.0).sample_rate_hz(RATE);
    s.filler(500, 3.0);
    s.filler(800, 3.0);
    s.programme("2026-03-02 01:00", "news", 1400, 4.0, "wav");
    let home = s.dir().join("alsa-home");
    let raw = s.dir().join("studio.raw");
    asoundrc(&home, &raw, RATE);
    s.output("kind = \"alsa\"\ndevice = \"default\"")
        .env("HOME", home.to_str().unwrap());
    s.start();
    s.wait_until(s.local("2026-03-02 01:00:07"));
    s.terminate();

    // The WAV output is anchored to station time: the programme starts there
    // on its minute.
    let aired = s.aired();
    let runs = s.runs(&aired);
    let start = s.local("2026-03-02 01:00");
    expect_run(&runs, 1400, start, start + secs(4), ms(20));

    // The device got the same programme: filler before it, the programme for
    // its full four seconds, filler after, and no hole in between.
    let left = read_f32_left(&raw);
    assert!(
        left.len() > RATE as usize * 8,
        "the ALSA device received only {} frames",
        left.len()
    );
    let fillers = [500, 800];
    let programme = first_window_with(&left, 0, 1400, &fillers)
        .expect("the programme never reached the ALSA device");
    assert!(
        left[..programme].iter().filter(|x| x.abs() > 0.01).count() > RATE as usize,
        "no filler reached the device before the programme"
    );
    let after = first_window_with(&left, programme, 500, &[1400])
        .into_iter()
        .chain(first_window_with(&left, programme, 800, &[1400]))
        .min()
        .expect("no filler after the programme on the device");
    let heard = (after - programme) as f64 / RATE as f64;
    assert!(
        (heard - 4.0).abs() < 0.03,
        "the programme lasted {heard:.3} s on the device, expected 4 s"
    );
    // A tone touches zero at its crossings; a hole is a run of zeros. Both
    // handovers are inside the span checked (20 ms either side of the
    // programme): filler fading out to the programme's first sample, and
    // filler after it. A hole of tens of samples at the first one came from
    // the sound card's drift correction moving between the filler's cue and
    // the programme's; a boundary is now converted to a sample once.
    let mut longest = (0, 0);
    let mut run = 0;
    let span = RATE as usize / 50;
    let from = programme.saturating_sub(span);
    for (i, x) in left[from..(after + span).min(left.len())]
        .iter()
        .enumerate()
    {
        run = if *x == 0.0 { run + 1 } else { 0 };
        if run > longest.0 {
            longest = (run, from + i);
        }
    }
    assert!(
        longest.0 < 8,
        "a hole of {} silent samples ending at sample {} on the device \
         (programme from {programme} to {after})",
        longest.0,
        longest.1
    );
    let log = s.log_json();
    log.expect_start(log.one("news"), start, ms(50));
}
