//! IKE fragmentation (Cisco/Microsoft) in simulation: certificate messages larger than the
//! fragment size travel in fragments both ways, main and aggressive mode, also with loss,
//! duplication and reordering (a retransmission keeps its fragment ID, so pieces of
//! several transmissions complete one message).

mod engine_sim;

use std::time::Duration;

use engine_sim::{MOON, SUN, Scenario, established, rsa_sim_with, start};
use ipsec_core::engine::EngineOptions;

fn small_fragments() -> EngineOptions {
    EngineOptions {
        fragment_size: 512,
        ..EngineOptions::default()
    }
}

#[test]
fn certificate_messages_go_in_fragments_both_ways() {
    for mode in ["main", "aggressive"] {
        let s = Scenario {
            exchange_mode: mode,
            ..Scenario::default()
        };
        let mut sim = rsa_sim_with(&s, &MOON, &SUN, 3, small_fragments());
        start(&mut sim, 0);
        assert!(
            sim.run_until(Duration::from_secs(10), established),
            "{mode}"
        );
        for n in &sim.nodes {
            let st = n.engine.stats();
            assert!(st.fragmented_sent >= 1, "{mode} {}: {st:?}", n.name);
            assert!(st.fragmented_received >= 1, "{mode} {}: {st:?}", n.name);
            assert_eq!(st.total_rejected(), 0, "{mode} {}: {st:?}", n.name);
        }
        // No datagram above the fragment size (plus the non-ESP marker) once the peer's
        // Vendor IDs are known (aggressive mode's first message is sent before).
        assert!(
            mode == "aggressive" || sim.sent.iter().all(|p| p.payload.len() <= 512 + 4),
            "{mode}: {:?}",
            sim.sent.iter().map(|p| p.payload.len()).max()
        );
    }
}

#[test]
fn fragments_survive_loss_duplication_and_reordering() {
    for seed in 0..6 {
        let s = Scenario::default();
        let mut sim = rsa_sim_with(&s, &MOON, &SUN, seed, small_fragments());
        sim.loss = 0.1;
        sim.duplicate = 0.1;
        sim.reorder = 0.3;
        start(&mut sim, 0);
        assert!(
            sim.run_until(Duration::from_secs(120), established),
            "seed {seed}: {:?}\n{:?}\n{:?}",
            sim.nodes[0].engine.stats(),
            sim.nodes[1].engine.stats(),
            sim.nodes[1].events
        );
    }
}

/// iOS fragments its first messages without waiting for our Vendor ID: a responder takes
/// unsolicited fragments (here A's main mode message 1, cut into three pieces and delivered
/// out of order) and answers the reassembled message.
#[test]
fn unsolicited_fragments_of_a_first_message_are_taken() {
    use ipsec_core::wire::{Flags, Fragment, Header, Message, PayloadType};
    let s = Scenario::default();
    let mut sim = rsa_sim_with(&s, &MOON, &SUN, 8, EngineOptions::default());
    // Hold everything A sends, deliver nothing.
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let h = std::rc::Rc::clone(&held);
    sim.filter = Some(Box::new(move |p| {
        if p.from == 0 {
            h.borrow_mut().push(p.clone());
        }
        true
    }));
    start(&mut sim, 0);
    sim.run_until(Duration::from_secs(1), |_| !held.borrow().is_empty());
    let mm1 = held.borrow()[0].clone();
    let header = Header::parse(&mm1.payload).unwrap();
    let chunks: Vec<&[u8]> = mm1.payload.chunks(mm1.payload.len() / 3 + 1).collect();
    let mut frags = Vec::new();
    for (i, data) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let f = Fragment {
            id: 77,
            number: u8::try_from(i + 1).unwrap(),
            flags: if last { Fragment::LAST_FRAGMENT } else { 0 },
            data,
        };
        let mut body = Vec::new();
        f.emit(&mut body).unwrap();
        let h = Header {
            next_payload: PayloadType::Fragment,
            flags: Flags::NONE,
            length: u32::try_from(32 + body.len()).unwrap(),
            ..header
        };
        let mut out = Vec::new();
        h.emit(&mut out);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&u16::try_from(4 + body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&body);
        assert!(Message::parse(&out).is_ok());
        frags.push(out);
    }
    frags.swap(0, 2);
    let now = sim.now;
    let b = &mut sim.nodes[1].engine;
    for f in &frags {
        b.handle_datagram(now, mm1.dst, mm1.src, f);
    }
    assert_eq!(b.stats().fragmented_received, 1, "{:?}", b.stats());
    let answer = b.poll_transmit().expect("B answers the reassembled MM1");
    let msg = Message::parse(&answer.payload).unwrap();
    assert_eq!(msg.header.initiator_cookie, header.initiator_cookie);
    assert_ne!(msg.header.responder_cookie, [0; 8]);
}
