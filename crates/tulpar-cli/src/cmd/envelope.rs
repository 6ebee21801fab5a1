//! `tulpar envelope sign|verify`: sign and check signed objects offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use prost::Message;
use tulpar_core::envelope::{self, PayloadType};
use tulpar_core::keys::PublicKey;
use tulpar_core::proto;
use tulpar_trust::keyfile;

/// Sign or verify envelopes.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Sign a file and print the envelope (proto3 JSON).
    Sign(SignArgs),
    /// Verify an envelope (proto3 JSON or binary protobuf) against public keys.
    Verify(VerifyArgs),
}

/// Sign a file.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// Private key (PKCS#8 PEM, mode 0600).
    #[arg(long)]
    key: PathBuf,
    /// Payload type: alert, response, receipt or directory (FILE is then that message in proto3
    /// JSON, signed as protobuf).
    #[arg(long = "type", value_parser = parse_type)]
    payload_type: PayloadType,
    /// Write the envelope as binary protobuf to this file instead of JSON to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The file to sign.
    file: PathBuf,
}

/// Verify an envelope.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Public key(s) allowed to have signed it (SPKI PEM); repeat for several.
    #[arg(long = "pubkey", required = true)]
    pubkeys: Vec<PathBuf>,
    /// Require this payload type (alert, response, receipt, directory); default: the one it declares.
    #[arg(long = "type", value_parser = parse_type)]
    payload_type: Option<PayloadType>,
    /// The envelope file.
    file: PathBuf,
}

fn parse_type(s: &str) -> Result<PayloadType, String> {
    match s {
        "alert" => Ok(PayloadType::Alert),
        "response" => Ok(PayloadType::Response),
        "receipt" => Ok(PayloadType::Receipt),
        "directory" => Ok(PayloadType::Directory),
        other => PayloadType::parse(other)
            .ok_or_else(|| format!("{other:?}: use alert, response, receipt or directory")),
    }
}

/// Encodes the proto3 JSON `text` as the protobuf message `payload_type` names.
fn encode_json(payload_type: PayloadType, text: &str) -> Result<Vec<u8>, serde_json::Error> {
    Ok(match payload_type {
        PayloadType::Alert => serde_json::from_str::<proto::Alert>(text)?.encode_to_vec(),
        PayloadType::Response => {
            serde_json::from_str::<proto::AlertResponse>(text)?.encode_to_vec()
        }
        PayloadType::Receipt => {
            serde_json::from_str::<proto::DeliveryReceipt>(text)?.encode_to_vec()
        }
        PayloadType::Directory => {
            serde_json::from_str::<proto::CountryDirectory>(text)?.encode_to_vec()
        }
    })
}

/// The payload `bytes` of type `payload_type` as proto3 JSON.
fn decode_to_json(payload_type: PayloadType, bytes: &[u8]) -> Result<String> {
    fn json<M: Message + Default + serde::Serialize>(bytes: &[u8]) -> Result<String> {
        Ok(serde_json::to_string_pretty(&M::decode(bytes)?)?)
    }
    match payload_type {
        PayloadType::Alert => json::<proto::Alert>(bytes),
        PayloadType::Response => json::<proto::AlertResponse>(bytes),
        PayloadType::Receipt => json::<proto::DeliveryReceipt>(bytes),
        PayloadType::Directory => json::<proto::CountryDirectory>(bytes),
    }
}

/// Reads an envelope stored as proto3 JSON or binary protobuf.
pub(crate) fn read_envelope(path: &std::path::Path) -> Result<proto::Envelope> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not an envelope in proto3 JSON", path.display()))
    } else {
        proto::Envelope::decode(bytes.as_slice())
            .with_context(|| format!("{}: not a protobuf envelope", path.display()))
    }
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Sign(args) => sign(args),
        Args::Verify(args) => verify(args),
    }
}

fn sign(args: SignArgs) -> Result<ExitCode> {
    let key = keyfile::read_private_key(&args.key)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let payload = encode_json(args.payload_type, &text).with_context(|| {
        format!(
            "{}: not a {} message in proto3 JSON",
            args.file.display(),
            args.payload_type
        )
    })?;
    let signed = envelope::sign(args.payload_type, payload, &[&key]);
    match args.out {
        Some(out) => {
            std::fs::write(&out, signed.encode_to_vec())
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!("signed by {} into {}", key.key_id(), out.display());
        }
        None => println!("{}", serde_json::to_string_pretty(&signed)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let keys: Vec<PublicKey> = args
        .pubkeys
        .iter()
        .map(|path| keyfile::read_public_key(path))
        .collect::<Result<_, _>>()?;
    let signed = read_envelope(&args.file)?;
    let expected = match args.payload_type {
        Some(expected) => expected,
        None => match PayloadType::parse(&signed.payload_type) {
            Some(declared) => declared,
            None => bail!(
                "{}: unknown payload type {:?}",
                args.file.display(),
                signed.payload_type
            ),
        },
    };
    match envelope::verify(&signed, expected, &keys[..]) {
        Ok(verified) => {
            let signers: Vec<String> = verified.signers().iter().map(ToString::to_string).collect();
            eprintln!("verified: {} signed by {}", expected, signers.join(", "));
            println!("{}", decode_to_json(expected, verified.payload())?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("NOT verified: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
