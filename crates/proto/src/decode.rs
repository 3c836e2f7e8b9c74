//! Turning untrusted text into frames, and frames into text.
//!
//! Decoding runs in three steps so that every failure gets its own stable code: the size is
//! checked before anything is parsed; the envelope (`type`, and `v` for `hello`) is read next;
//! only then the whole frame, followed by the normalisation and checks of every field.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{
    ClientFrame, DisplayName, ErrorCode, Limits, PROTOCOL_VERSION, ProtoError, RoomName,
    ServerFrame,
};

/// The frame types a client may send, in protocol version 2.
const CLIENT_TYPES: [&str; 7] = ["hello", "join", "leave", "chat", "signal", "ping", "report"];
/// The frame types a relay may send, in protocol version 2.
const SERVER_TYPES: [&str; 12] = [
    "welcome",
    "joined",
    "left",
    "presence",
    "chat",
    "sequenced",
    "ack",
    "signal",
    "error",
    "pong",
    "announcement",
    "challenge",
];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    v: Option<serde_json::Value>,
}

/// Decodes and validates a frame a client sent. Names and rooms come back normalised
/// (trimmed, whitespace collapsed, NFC); anything else is an error with a stable code.
pub fn decode_client(text: &str, limits: &Limits) -> Result<ClientFrame, ProtoError> {
    let kind = envelope(text, limits.max_frame_bytes, &CLIENT_TYPES)?;
    if kind.0 == "hello" {
        check_version(kind.1)?;
    }
    let mut frame: ClientFrame = serde_json::from_str(text).map_err(|e| {
        ProtoError::new(
            ErrorCode::InvalidField,
            format!("invalid {} frame: {e}", kind.0),
        )
    })?;
    validate(&mut frame, limits)?;
    Ok(frame)
}

/// Decodes a frame the relay sent. A type this build does not know gives
/// [`ErrorCode::UnknownType`], which a client should skip rather than treat as fatal.
pub fn decode_server(text: &str) -> Result<ServerFrame, ProtoError> {
    let kind = envelope(text, usize::MAX, &SERVER_TYPES)?;
    serde_json::from_str(text).map_err(|e| {
        ProtoError::new(
            ErrorCode::InvalidField,
            format!("invalid {} frame: {e}", kind.0),
        )
    })
}

/// Encodes a frame as the JSON text sent on the wire.
pub fn encode<T: Serialize>(frame: &T) -> String {
    // Frames hold only strings, numbers and JSON values, which always serialise.
    serde_json::to_string(frame).expect("protocol frames always serialise to JSON")
}

fn envelope<'a>(
    text: &'a str,
    max_bytes: usize,
    known: &[&str],
) -> Result<(String, Option<serde_json::Value>), ProtoError> {
    if text.len() > max_bytes {
        return Err(ProtoError::new(
            ErrorCode::FrameTooLarge,
            format!(
                "frame is {} bytes; the limit is {max_bytes} bytes",
                text.len()
            ),
        ));
    }
    let envelope: Envelope<'a> = serde_json::from_str(text).map_err(|e| {
        ProtoError::new(
            ErrorCode::Malformed,
            format!("frame is not a JSON object: {e}"),
        )
    })?;
    let Some(kind) = envelope.kind else {
        return Err(ProtoError::new(
            ErrorCode::Malformed,
            "frame has no \"type\" field",
        ));
    };
    if !known.contains(&kind.as_ref()) {
        let shown: String = kind.chars().take(32).collect();
        return Err(ProtoError::new(
            ErrorCode::UnknownType,
            format!("unknown frame type {shown:?}"),
        ));
    }
    Ok((kind.into_owned(), envelope.v))
}

fn check_version(v: Option<serde_json::Value>) -> Result<(), ProtoError> {
    match v {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(PROTOCOL_VERSION)) => {
            Ok(())
        }
        Some(serde_json::Value::Number(n)) => Err(ProtoError::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "this relay speaks protocol version {PROTOCOL_VERSION}; the client sent version \
                 {n}. Version 2 proves who a device is with a key (hello signs the relay's \
                 challenge) and signs every chat: update the app"
            ),
        )),
        _ => Err(ProtoError::new(
            ErrorCode::InvalidField,
            format!(
                "hello needs a numeric protocol version \"v\" (this relay speaks {PROTOCOL_VERSION})"
            ),
        )),
    }
}

fn validate(frame: &mut ClientFrame, limits: &Limits) -> Result<(), ProtoError> {
    match frame {
        ClientFrame::Hello(hello) => {
            if hello.device.is_nil() {
                return Err(ProtoError::new(
                    ErrorCode::InvalidId,
                    "device id is the nil UUID",
                ));
            }
            hello.name = DisplayName::parse(hello.name.as_str())?;
        }
        ClientFrame::Join(join) => join.room = RoomName::parse(join.room.as_str())?,
        ClientFrame::Leave(leave) => leave.room = RoomName::parse(leave.room.as_str())?,
        ClientFrame::Chat(chat) => {
            let id = Some(chat.id);
            chat.room = RoomName::parse(chat.room.as_str()).map_err(|e| e.about(id, None))?;
            let about = |e: ProtoError| e.about(id, Some(&chat.room));
            if chat.id.is_nil() || chat.prev.is_some_and(|prev| prev.is_nil()) {
                return Err(about(ProtoError::new(
                    ErrorCode::InvalidId,
                    "message id (or prev) is the nil UUID",
                )));
            }
            crate::text::validate_content(&chat.body, chat.sealed.as_ref(), limits)
                .map_err(about)?;
            if chat.direct.len() > Limits::MAX_DIRECT {
                return Err(about(ProtoError::new(
                    ErrorCode::InvalidField,
                    format!(
                        "chat names {} devices in \"direct\"; at most {} are allowed",
                        chat.direct.len(),
                        Limits::MAX_DIRECT
                    ),
                )));
            }
        }
        ClientFrame::Signal(signal) => {
            signal.room = RoomName::parse(signal.room.as_str())?;
            if signal.to.is_nil() {
                return Err(
                    ProtoError::new(ErrorCode::InvalidId, "signal target is the nil UUID")
                        .about(None, Some(&signal.room)),
                );
            }
        }
        ClientFrame::Ping(_) => {}
        ClientFrame::Report(report) => report.validate()?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{ChatSend, DeviceId, Hello, MessageId};

    /// A device id, its key and a proof (for some nonce: decoding does not check it).
    fn proven() -> (DeviceId, crate::PublicKey, crate::Signature) {
        let key = crate::DeviceKey::generate();
        (
            key.device(),
            key.public(),
            key.prove(&crate::Nonce::random()),
        )
    }

    fn code(text: &str) -> ErrorCode {
        decode_client(text, &Limits::default()).unwrap_err().code
    }

    #[test]
    fn every_bad_input_gets_its_own_code() {
        let (device, key, proof) = proven();
        assert_eq!(code("not json"), ErrorCode::Malformed);
        assert_eq!(code("[1,2]"), ErrorCode::Malformed);
        assert_eq!(code(r#"{"room":"a"}"#), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":"shout"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"join","room":5}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"join"}"#), ErrorCode::InvalidField);
        assert_eq!(
            code(r#"{"type":"join","room":"a/b"}"#),
            ErrorCode::InvalidRoom
        );
        assert_eq!(
            code(&format!(
                r#"{{"type":"hello","v":1,"device":"{device}","name":"x"}}"#
            )),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            code(&format!(
                r#"{{"type":"hello","device":"{device}","name":"x"}}"#
            )),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(&format!(
                r#"{{"type":"hello","v":2,"device":"{device}","name":"  ","key":"{key}","proof":"{proof}"}}"#
            )),
            ErrorCode::InvalidName
        );
        let big = format!(
            r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#,
            "x".repeat(70_000)
        );
        assert_eq!(code(&big), ErrorCode::FrameTooLarge);
    }

    #[test]
    fn errors_about_one_chat_name_its_id_and_room() {
        let id = MessageId::new();
        let room = RoomName::parse("Main Stage").ok();
        let chat = |body: &str, extra: &str| {
            format!(
                r#"{{"type":"chat","id":"{id}","room":"Main  Stage","body":"{body}","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"{extra}}}"#
            )
        };
        let many: Vec<String> = (0..=Limits::MAX_DIRECT)
            .map(|_| format!("\"{}\"", DeviceId::random()))
            .collect();
        let cases = [
            (chat(&"b".repeat(5000), ""), ErrorCode::BodyTooLarge),
            (chat(" ", ""), ErrorCode::InvalidBody),
            (chat("\\u001b[2J", ""), ErrorCode::InvalidBody),
            (
                chat("hi", &format!(r#","direct":[{}]"#, many.join(","))),
                ErrorCode::InvalidField,
            ),
        ];
        for (text, code) in cases {
            let err = decode_client(&text, &Limits::default()).unwrap_err();
            assert_eq!((err.code, err.id, &err.room), (code, Some(id), &room));
        }

        let nil = MessageId::from(uuid::Uuid::nil());
        let text = format!(
            r#"{{"type":"chat","id":"{nil}","room":"Camp","body":"hi","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#
        );
        let err = decode_client(&text, &Limits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidId);
        assert_eq!(err.room, RoomName::parse("Camp").ok());

        // An invalid room cannot be named back; the message still is.
        let text = format!(
            r#"{{"type":"chat","id":"{id}","room":"a/b","body":"hi","sent_at":0,"sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#
        );
        let err = decode_client(&text, &Limits::default()).unwrap_err();
        assert_eq!(
            (err.code, err.id, err.room),
            (ErrorCode::InvalidRoom, Some(id), None)
        );
    }

    #[test]
    fn reports_are_bounded_and_checked() {
        let link = |peer: DeviceId, rtt: u32| {
            format!(r#"{{"peer":"{peer}","state":"open","rtt_ms":{rtt}}}"#)
        };
        let report = |links: Vec<String>| {
            format!(
                r#"{{"type":"report","links":[{}],"received":{{"p2p":3}}}}"#,
                links.join(",")
            )
        };
        let ok = decode_client(
            &report(vec![link(DeviceId::random(), 12)]),
            &Limits::default(),
        );
        let Ok(ClientFrame::Report(ok)) = ok else {
            panic!("a valid report: {ok:?}");
        };
        assert_eq!((ok.links.len(), ok.received.p2p, ok.sent.relay), (1, 3, 0));

        let too_many = (0..=Limits::MAX_REPORT_LINKS)
            .map(|_| link(DeviceId::random(), 1))
            .collect();
        let twice = DeviceId::random();
        let cases = [
            (report(too_many), ErrorCode::InvalidField),
            (
                report(vec![link(twice, 1), link(twice, 2)]),
                ErrorCode::InvalidField,
            ),
            (
                report(vec![link(DeviceId::random(), 60_001)]),
                ErrorCode::InvalidField,
            ),
            (report(vec![link(DeviceId::NIL, 1)]), ErrorCode::InvalidId),
            (
                r#"{"type":"report","links":[{"peer":"x","state":"open"}]}"#.to_owned(),
                ErrorCode::InvalidField,
            ),
            (
                format!(
                    r#"{{"type":"report","links":[{{"peer":"{}","state":"dancing"}}]}}"#,
                    DeviceId::random()
                ),
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"report","sent":{"p2p":-1}}"#.to_owned(),
                ErrorCode::InvalidField,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(code(&text), expected, "{text}");
        }
    }

    #[test]
    fn announcements_decode_and_say_what_they_are() {
        let text = format!(
            r#"{{"type":"announcement","room":"Camp","id":"{}","seq":4,"sender":"{}","from":"Announcement","body":"Main stage closed","sent_at":1,"stored_at":2}}"#,
            MessageId::new(),
            DeviceId::NIL
        );
        let Ok(ServerFrame::Announcement(message)) = decode_server(&text) else {
            panic!("an announcement");
        };
        assert!(message.is_announcement());
    }

    #[test]
    fn sent_at_is_required() {
        let text = format!(
            r#"{{"type":"chat","id":"{}","room":"Camp","body":"hi"}}"#,
            MessageId::new()
        );
        let err = decode_client(&text, &Limits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert!(err.message.contains("sent_at"), "{err}");
    }

    #[test]
    fn version_error_names_both_versions() {
        let device = DeviceId::random();
        let err = decode_client(
            &format!(r#"{{"type":"hello","v":9,"device":"{device}","name":"x"}}"#),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            err.message.contains("version 2") && err.message.contains("version 9"),
            "{err}"
        );
    }

    #[test]
    fn hello_name_is_normalised_on_decode() {
        let (device, key, proof) = proven();
        let text = format!(
            r#"{{"type":"hello","v":2,"device":"{device}","name":"  John   Doe ","key":"{key}","proof":"{proof}"}}"#
        );
        let ClientFrame::Hello(Hello { name, .. }) =
            decode_client(&text, &Limits::default()).unwrap()
        else {
            panic!("not a hello");
        };
        assert_eq!(name.as_str(), "John Doe");
    }

    #[test]
    fn chat_round_trips_through_encode_and_decode() {
        let frame = ClientFrame::Chat(ChatSend {
            id: MessageId::new(),
            room: RoomName::parse("Main Stage").unwrap(),
            body: "see you at the bar".into(),
            sealed: None,
            sent_at: 1_700_000_000_000,
            prev: Some(MessageId::new()),
            sig: crate::Signature::from_bytes([7; 64]),
            direct: Vec::new(),
        });
        assert_eq!(
            decode_client(&encode(&frame), &Limits::default()).unwrap(),
            frame
        );
    }

    #[test]
    fn unknown_server_frames_are_reported_not_fatal() {
        assert_eq!(
            decode_server(r#"{"type":"hologram"}"#).unwrap_err().code,
            ErrorCode::UnknownType
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_text(text in ".{0,300}") {
            let _ = decode_client(&text, &Limits::default());
            let _ = decode_server(&text);
        }

        #[test]
        fn decode_never_panics_on_json_shaped_text(
            kind in prop_oneof![Just("hello"), Just("join"), Just("chat"), Just("signal"), Just("ping"), Just("leave")],
            field in "[a-z]{1,6}",
            value in prop_oneof![Just("1".to_string()), Just("null".to_string()), "\"[^\"\\\\]{0,20}\"", Just("[]".to_string())],
        ) {
            let text = format!(r#"{{"type":"{kind}","{field}":{value},"v":1}}"#);
            let _ = decode_client(&text, &Limits::default());
        }

        #[test]
        fn valid_chats_survive_a_round_trip(body in "[a-zA-Z0-9 .,!?]{1,200}", room in "[a-z]{1,20}") {
            prop_assume!(!body.trim().is_empty());
            let frame = ClientFrame::Chat(ChatSend {
                id: MessageId::new(),
                room: RoomName::parse(&room).unwrap(),
                body: body.clone(),
                sealed: None,
                sent_at: 0,
                prev: None,
                sig: crate::Signature::from_bytes([7; 64]),
                direct: Vec::new(),
            });
            prop_assert_eq!(decode_client(&encode(&frame), &Limits::default()).unwrap(), frame);
        }
    }
}
