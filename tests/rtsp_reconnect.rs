//! A live RTSP camera that dies mid-stream and comes back: the agent reconnects by itself.
//! The camera is a real RTSP server (gst-rtsp-server) in a child process on loopback, so killing
//! it closes sockets exactly as a camera reboot does.

mod common;

use std::io::BufRead;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_rtsp_server::prelude::*;
use gstreamer_rtsp_server::{RTSPMediaFactory, RTSPServer};

use common::*;

const PORT_VAR: &str = "AISLE_TEST_RTSP_PORT";

/// Not a test of its own: the body of the RTSP server child process. It does nothing unless
/// started by `rtsp_camera_that_restarts_is_resumed` with the port in the environment.
#[test]
#[ignore = "helper process for rtsp_camera_that_restarts_is_resumed"]
fn rtsp_server_process() {
    let Ok(port) = std::env::var(PORT_VAR) else {
        return;
    };
    gst::init().unwrap();
    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    let factory = RTSPMediaFactory::new();
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 ! jpegenc ! rtpjpegpay name=pay0 pt=96 )",
    );
    factory.set_shared(true);
    server.mount_points().unwrap().add_factory("/cam", factory);
    let _source = server.attach(None).unwrap();
    main_loop.run();
}

fn start_server(port: u16) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "rtsp_server_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PORT_VAR, port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "RTSP server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn rtsp_camera_that_restarts_is_resumed() {
    let port = free_port();
    let mut server = Killed(start_server(port));
    let mut agent = Killed(
        aisle()
            .args([
                "detect",
                &format!("rtsp://127.0.0.1:{port}/cam"),
                "--threads",
                "1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Each processed frame is one line; timestamp them as they arrive.
    let (tx, rx) = mpsc::channel::<Instant>();
    let out = agent.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            if line.is_err() || tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("no frame from the RTSP camera");
    for _ in 0..5 {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("stream stopped before the outage");
    }

    server.0.kill().unwrap();
    server.0.wait().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    while rx.try_recv().is_ok() {}
    server = Killed(start_server(port));
    let restarted = Instant::now();

    let resumed = loop {
        let t = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("agent never resumed after the camera came back");
        if t > restarted {
            break t;
        }
    };
    let waited = resumed - restarted;
    eprintln!("first frame {:?} after the camera came back", waited);
    assert!(
        waited <= Duration::from_secs(10),
        "resumed {waited:?} after the camera came back"
    );
    drop(server);
}
