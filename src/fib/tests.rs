//! The FIB task's own logic, without a kernel: a `Fib` without a socket,
//! fed the answers a kernel would give.

use futures::FutureExt;

use super::test_util::{link, net, nh, set};
use super::*;

const MAIN: Placement = Placement { table: 254, metric: 20 };

/// A FIB without a socket; links 1 and 2 up, 3 down.
fn fib() -> Fib {
    Fib {
        at: MAIN,
        conn: None,
        table: FibTable::default(),
        links: Links::new([link(1, true), link(2, true), link(3, false)]),
        objects: Objects::new(Support::No),
        stale: false,
        done: Ok(FibReport::default()),
        inbox: actor::channel(STAGE, 1).1,
        counters: Arc::default(),
        monitor: Monitor::default(),
        deferral: None,
        adopted: Adopted::default(),
        created_in_deferral: Default::default(),
        deferring: watch::channel(false).0,
    }
}

fn refused(errno: i32) -> Option<KernelError> {
    Some(KernelError { errno, message: None })
}

fn report(replaced: usize, deleted: usize, failed: usize, partial: usize, waiting: usize) -> FibReport {
    FibReport {
        replaced,
        deleted,
        failed,
        partial,
        waiting,
    }
}

#[test]
fn report_add_sums_the_request_counts_only() {
    let mut total = report(1, 2, 3, 4, 5);
    total.add(&report(10, 20, 30, 40, 50));
    assert_eq!(total, report(11, 22, 33, 4, 5));
}

#[test]
fn drains_fold_into_one_settle_report() {
    let mut done = Ok(report(1, 1, 0, 3, 3));
    fold_done(&mut done, Ok(report(2, 0, 1, 1, 0)));
    // Counts add up; the shortfall is the latest.
    assert_eq!(done, Ok(report(3, 1, 1, 1, 0)));

    fold_done(&mut done, Err(FibError::Netlink("first".into())));
    fold_done(&mut done, Ok(report(5, 5, 5, 5, 5)));
    fold_done(&mut done, Err(FibError::Netlink("second".into())));
    assert_eq!(done, Err(FibError::Netlink("first".into())));
}

#[test]
fn refusals_are_grouped_by_errno_with_the_first_named() {
    let a = set(&[nh(1, "fe80::1")]);
    let mut r = Refusals::default();
    let install = |p: &str| Op::Replace {
        prefix: net(p),
        nexthops: Arc::clone(&a),
        object: None,
        create_only: true,
    };
    let eexist = KernelError {
        errno: libc::EEXIST,
        message: Some("File exists".into()),
    };
    r.note(&install("10.0.0.0/24"), eexist.clone());
    r.note(&install("10.0.1.0/24"), eexist);
    r.note(
        &Op::Delete {
            prefix: net("10.0.2.0/24"),
            metric: 20,
        },
        KernelError {
            errno: libc::EINVAL,
            message: None,
        },
    );
    assert_eq!(r.by_errno.len(), 2);
    let (count, first) = &r.by_errno[&libc::EEXIST];
    assert_eq!(*count, 2);
    assert!(first.starts_with("installing 10.0.0.0/24: "), "{first}");
    assert!(first.contains("(File exists)"), "{first}");
    assert!(
        first.ends_with("another daemon's route has our metric there, left alone"),
        "{first}"
    );
    let (count, first) = &r.by_errno[&libc::EINVAL];
    assert_eq!(*count, 1);
    assert!(first.starts_with("removing 10.0.2.0/24: "), "{first}");
    // `ndbgpctl monitor` gets a line per group, as the log does.
    let monitor = Monitor::new();
    let mut events = monitor.subscribe();
    r.log(&monitor);
    let told: Vec<(u64, bool)> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| match e.event {
            Event::FibError { count, error } => (count, error.starts_with("installing 10.0.0.0/24: ")),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(told, [(2, true), (1, false)], "by errno: EEXIST (17), then EINVAL (22)");
}

#[test]
fn answers_are_recorded_in_the_table() {
    let mut f = fib();
    let a = set(&[nh(1, "fe80::1")]);
    let [ok, deleted, other_metric, gone, link_down, refused_p] = [
        "10.0.1.0/24",
        "10.0.2.0/24",
        "10.0.3.0/24",
        "10.0.4.0/24",
        "10.0.5.0/24",
        "10.0.6.0/24",
    ]
    .map(net);
    for p in [deleted, other_metric, gone] {
        f.table.set_installed(p, Some(&a));
    }
    let replace = |prefix| Op::Replace {
        prefix,
        nexthops: Arc::clone(&a),
        object: None,
        create_only: false,
    };
    let ops = [
        replace(ok),
        Op::Delete {
            prefix: deleted,
            metric: 20,
        },
        Op::Delete {
            prefix: other_metric,
            metric: 1024,
        },
        Op::Delete {
            prefix: gone,
            metric: 20,
        },
        replace(link_down),
        replace(refused_p),
    ];
    let errors = vec![
        None,
        None,
        None,
        refused(libc::ESRCH),
        refused(libc::ENETDOWN),
        refused(libc::EINVAL),
    ];
    let answers = f.record(&ops, errors.clone(), true);
    assert_eq!(answers.report, report(1, 2, 1, 0, 0));
    assert_eq!(answers.link_trouble, [link_down]);
    assert_eq!(answers.refused.by_errno.keys().collect::<Vec<_>>(), [&libc::EINVAL]);
    assert_eq!(f.table.installed(&ok), Some(&a));
    assert_eq!(f.table.installed(&deleted), None);
    // A delete at another metric was a leftover, not our route.
    assert_eq!(f.table.installed(&other_metric), Some(&a));
    // Already gone: recorded as gone, not counted.
    assert_eq!(f.table.installed(&gone), None);
    assert_eq!(f.table.installed(&link_down), None);
    assert_eq!(f.table.installed(&refused_p), None);
    // What the metrics read: the table's size once published, and the
    // requests as `run` adds them.
    f.counters.add(&answers.report);
    f.publish();
    let stats = f.counters.snapshot();
    assert_eq!((stats.installed_ipv4, stats.installed_ipv6), (2, 0), "{stats:?}");
    assert_eq!((stats.replaced, stats.deleted, stats.failed), (1, 2, 1));

    // The second round does not retry: a link problem is a failure.
    let answers = fib().record(&ops, errors, false);
    assert_eq!(answers.report, report(1, 2, 2, 0, 0));
    assert!(answers.link_trouble.is_empty());
}

#[test]
fn plans_leave_out_down_links_and_skip_what_is_installed() {
    let mut f = fib();
    let [both, down_only, fine] = ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"].map(net);
    f.table.set_wanted(both, Some(&[nh(1, "fe80::1"), nh(3, "fe80::3")]));
    f.table.set_wanted(down_only, Some(&[nh(3, "fe80::3")]));
    f.table.set_wanted(fine, Some(&[nh(2, "fe80::2")]));
    f.table.set_installed(fine, Some(&[nh(2, "fe80::2")]));
    let ops = f.plan_for([both, down_only, fine].into_iter());
    assert_eq!(
        ops,
        [Op::Replace {
            prefix: both,
            nexthops: set(&[nh(1, "fe80::1")]),
            object: None,
            create_only: true,
        }]
    );
    // Installed, then its last live link goes down: deleted, still wanted.
    f.table.set_installed(down_only, Some(&[nh(3, "fe80::3")]));
    assert_eq!(
        f.plan_for([down_only].into_iter()),
        [Op::Delete {
            prefix: down_only,
            metric: 20,
        }]
    );
    assert!(f.table.wanted(&down_only).is_some());
}

#[test]
fn shortfall_goes_in_the_report() {
    let mut f = fib();
    let [partial, waiting, fine] = ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"].map(net);
    f.table.set_wanted(partial, Some(&[nh(1, "fe80::1"), nh(3, "fe80::3")]));
    f.table.set_wanted(waiting, Some(&[nh(3, "fe80::3")]));
    f.table.set_wanted(fine, Some(&[nh(2, "fe80::2")]));
    let short = f.shortfall_of([partial, waiting, fine, net("10.0.9.0/24")].into_iter());
    assert_eq!((short.partial, short.waiting), (1, 1));
    assert_eq!(short.by_link.keys().collect::<Vec<_>>(), [&3]);
    let mut r = report(7, 0, 0, 9, 9);
    f.note_shortfall(&mut r, short);
    assert_eq!(r, report(7, 0, 0, 1, 1));
}

#[test]
fn a_new_link_makes_the_links_looked_at_again() {
    let f = fib();
    let known = vec![
        (net("10.0.1.0/24"), Some(set(&[nh(1, "fe80::1"), nh(3, "fe80::3")]))),
        (net("10.0.2.0/24"), None),
    ];
    assert!(!names_unknown_link(&known, &f.links));
    let mut with_new = known;
    with_new.push((net("10.0.3.0/24"), Some(set(&[nh(2, "fe80::2"), nh(9, "fe80::9")]))));
    assert!(names_unknown_link(&with_new, &f.links));
}

/// A handle on a mailbox and a command channel, without a task.
fn handle() -> (FibHandle, Inbox<Command>) {
    let (commands, inbox) = actor::channel(STAGE, 1);
    let handle = FibHandle {
        commands,
        mailbox: Arc::new(Mailbox::default()),
        counters: Arc::default(),
        deferring: watch::channel(false).1,
    };
    (handle, inbox)
}

#[test]
fn submit_queues_and_wakes_the_task() {
    let (h, _rx) = handle();
    let a = set(&[nh(1, "fe80::1")]);
    h.submit([
        FibChange::Replace(FibRoute {
            prefix: net("10.0.0.1/24"),
            nexthops: Arc::clone(&a),
        }),
        FibChange::Delete(net("10.0.1.0/24")),
    ]);
    assert!(h.mailbox.wake.notified().now_or_never().is_some(), "woken");
    let queued: Vec<_> = h.mailbox.take().into_routes().collect();
    assert_eq!(queued, [(net("10.0.1.0/24"), None), (net("10.0.0.0/24"), Some(a))]);

    h.resync_soon();
    assert!(h.mailbox.wake.notified().now_or_never().is_some(), "woken");
    assert!(h.mailbox.take().resync);
}

#[tokio::test]
async fn a_handle_without_its_task_says_stopped() {
    let (h, rx) = handle();
    drop(rx);
    let stopped = FibError::Stopped(Stopped { stage: STAGE });
    assert_eq!(h.resync().await, Err(stopped.clone()));
    assert_eq!(h.recorded(None).await, Err(stopped.clone()));
    assert_eq!(h.recorded_of(vec![]).await, Err(stopped.clone()));
    assert_eq!(stopped.to_string(), "the FIB task has stopped");
}

/// A FIB in a graceful restart's deferral, holding what `adopted` routes
/// the start found.
fn deferring_fib(adopted: &[(&str, FibNextHop)]) -> (Fib, watch::Receiver<bool>) {
    let mut f = fib();
    let (tx, rx) = watch::channel(true);
    f.deferring = tx;
    f.deferral = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(120));
    for (prefix, nexthop) in adopted {
        f.table.set_installed(net(prefix), Some(&[*nexthop]));
    }
    (f, rx)
}

#[test]
fn the_start_adopts_what_it_found_and_without_routes_defers_nothing() {
    let a = nh(1, "fe80::1");
    let (mut f, deferring) = deferring_fib(&[("10.0.0.0/24", a), ("2001:db8::/64", a)]);
    f.adopt();
    assert_eq!(
        f.adopted,
        Adopted {
            ipv4: 1,
            ipv6: 1,
            neighbours: vec![a],
        }
    );
    assert!(f.deferral.is_some());
    assert!(*deferring.borrow());

    let (mut f, deferring) = deferring_fib(&[]);
    f.adopt();
    assert!(f.adopted.is_empty());
    assert!(f.deferral.is_none(), "nothing to wait for");
    assert!(!*deferring.borrow());
}

#[test]
fn a_deferral_sends_no_change_to_our_routes() {
    let a = nh(1, "fe80::1");
    let (mut f, _deferring) = deferring_fib(&[("10.0.0.0/24", a), ("10.0.1.0/24", a)]);
    // The RIB wants one adopted route elsewhere and not the other: both
    // wait, so nothing reaches the kernel (the FIB has no socket: a
    // request would fail).
    f.table.set_wanted(net("10.0.0.0/24"), Some(&[nh(2, "fe80::2")]));
    let ops = f.plan_for([net("10.0.0.0/24"), net("10.0.1.0/24")].into_iter());
    assert_eq!(ops.len(), 2);
    let report = f.run(ops).now_or_never().expect("no I/O");
    assert_eq!(report, Ok(FibReport::default()));
    assert_eq!(f.table.installed(&net("10.0.0.0/24")), Some(&set(&[a])));
    assert_eq!(f.table.installed(&net("10.0.1.0/24")), Some(&set(&[a])));
}

/// A route naming an object the kernel flushed (with its link) since the
/// last look is refused with EINVAL: planned again after a fresh look, not
/// a failure. Acknowledged, it is recorded as going through the object.
#[test]
fn a_route_through_a_vanished_object_is_planned_again() {
    let mut f = fib();
    let a = set(&[nh(1, "fe80::1")]);
    let [through, inline] = ["10.0.1.0/24", "10.0.2.0/24"].map(net);
    let replace = |prefix, object| Op::Replace {
        prefix,
        nexthops: Arc::clone(&a),
        object,
        create_only: true,
    };
    let ops = [replace(through, Some(7)), replace(inline, None)];
    let answers = f.record(&ops, vec![refused(libc::EINVAL), refused(libc::EINVAL)], true);
    assert_eq!(answers.link_trouble, [through]);
    assert_eq!(answers.report.failed, 1, "inline, EINVAL is a refusal");

    let answers = f.record(&ops, vec![None, None], true);
    assert_eq!(answers.report.replaced, 2);
    assert_eq!(f.table.installed_route(&through), Some((&a, true)));
    assert_eq!(f.table.installed_route(&inline), Some((&a, false)));
}

/// A sweep gives its prefixes back in prefix order, IPv4 first, whatever
/// order they came in.
#[test]
fn a_sweep_sends_in_prefix_order() {
    let mut sweep = Sweep::default();
    for p in [
        "11.0.32.0/24",
        "2001:db8:0:10::/64",
        "11.0.16.0/24",
        "2001:db8::/64",
        "11.0.0.0/24",
    ] {
        sweep.push(net(p));
    }
    let want = [
        "11.0.0.0/24",
        "11.0.16.0/24",
        "11.0.32.0/24",
        "2001:db8::/64",
        "2001:db8:0:10::/64",
    ];
    assert_eq!(sweep.into_prefixes(), want.map(net));
    let mut unordered = Sweep::default();
    for p in ["11.0.16.0/24", "11.0.48.0/24", "11.0.0.0/24"] {
        unordered.push(net(p));
    }
    assert_eq!(
        unordered.into_prefixes(),
        ["11.0.0.0/24", "11.0.16.0/24", "11.0.48.0/24"].map(net)
    );
}
