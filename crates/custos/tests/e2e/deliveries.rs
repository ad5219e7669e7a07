//! Signed webhook deliveries posted from several client threads, for the
//! end-to-end tests that kill a server under load (`serve`, `cluster`):
//! what each delivery carried, which were answered 200 and which were in
//! flight when the server died.

use custos_bench::webhook::{self, Client};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One delivery: its body and the (wamid, text) of its messages.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub body: String,
    pub messages: Vec<(String, String)>,
}

/// Delivery `n` tagged `tag`, with 1 to `most` messages.
pub fn delivery(tag: &str, n: u64, most: u64) -> Delivery {
    let (body, texts) = webhook::synthetic(tag, n, 1 + (n % most) as usize);
    Delivery {
        body,
        messages: texts.into_iter().map(|t| (t.wamid, t.body)).collect(),
    }
}

/// Posts `d` signed with `secret`; the status.
pub fn post(client: &mut Client, secret: &str, d: &Delivery) -> std::io::Result<u16> {
    client.deliver(
        &webhook::sign(secret.as_bytes(), d.body.as_bytes()),
        d.body.as_bytes(),
    )
}

/// What a load did.
#[derive(Default)]
pub struct Outcome {
    /// Answered 200.
    pub acked: Mutex<Vec<Delivery>>,
    /// Sent but not answered (the server died meanwhile).
    pub unanswered: Mutex<Vec<Delivery>>,
    /// How many were answered 200 so far.
    pub count: AtomicUsize,
}

/// The load's shape: the webhook secret, client threads, and the most
/// messages in one delivery.
#[derive(Clone, Copy)]
pub struct Load<'a> {
    pub secret: &'a str,
    pub threads: usize,
    pub most: u64,
}

impl Load<'_> {
    /// Posts deliveries tagged `tag` to `addr` from every thread, each
    /// until `per_thread` are acknowledged or, with `None`, until its
    /// connection fails (the server died).
    pub fn run(
        self,
        addr: std::net::SocketAddr,
        tag: &str,
        per_thread: Option<u64>,
        out: &Outcome,
    ) {
        std::thread::scope(|scope| {
            for t in 0..self.threads {
                scope.spawn(move || {
                    let Ok(mut client) = Client::connect(addr) else {
                        return;
                    };
                    for n in 0.. {
                        if per_thread.is_some_and(|max| n >= max) {
                            return;
                        }
                        let d = delivery(&format!("{tag}t{t}"), n, self.most);
                        match post(&mut client, self.secret, &d) {
                            Ok(200) => {
                                out.acked.lock().unwrap().push(d);
                                out.count.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(status) => panic!("delivery {tag}t{t} {n} answered {status}"),
                            Err(e) => {
                                assert!(per_thread.is_none(), "delivery {tag}t{t} {n}: {e}");
                                out.unanswered.lock().unwrap().push(d);
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
}
