//! Placeholder texts (`{{ requester.name }}`, …) that admins and agents save in macros, rules,
//! canned replies and notifications, and that hdms renders on every ticket they apply to.
//!
//! Properties: a text the save-time check accepts renders or fails with a 422-style error
//! (never a panic), quickly, into a text of bounded size: a saved text must not let one
//! rendering eat the server's time or memory.

#![no_main]

use std::time::Instant;

use hdms_fuzz::SLOW;
use hdms_server::tickets::placeholders::{Person, Values, check, render};
use libfuzzer_sys::fuzz_target;

/// Far more than any reply needs; a rendering beyond it is a text built to blow up.
const MAX_RENDERED: usize = 1 << 20;

fuzz_target!(|text: &str| {
    if check("body", text).is_err() {
        return;
    }
    let values = Values {
        number: "HD-1042".into(),
        subject: "Printer on floor 3 jams {{ ticket.number }}".into(),
        status: "open".into(),
        priority: "high".into(),
        category: "hardware".into(),
        requester: Person { name: "Ada Lovelace".into(), email: "ada@example.com".into() },
        agent: Person { name: "Grace Hopper".into(), email: "grace@example.com".into() },
    };
    let started = Instant::now();
    let rendered = render("body", text, &values);
    assert!(started.elapsed() < SLOW, "rendering {text:?} took {:?}", started.elapsed());
    if let Ok(rendered) = rendered {
        assert!(rendered.len() <= MAX_RENDERED.max(text.len() * 64), "{text:?} rendered {} bytes", rendered.len());
    }
});
