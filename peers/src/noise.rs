//! The Noise side of a connection: parameters, prologue, handshake
//! states.

use crate::{Error, Identity, NOISE_PARAMS, PROLOGUE};
use snow::params::NoiseParams;
use snow::HandshakeState;

/// [`NOISE_PARAMS`] parsed.
pub(crate) fn params() -> Result<NoiseParams, Error> {
    NOISE_PARAMS
        .parse()
        .map_err(|e| Error::Noise(format!("{NOISE_PARAMS}: {e}")))
}

/// [`PROLOGUE`], then the initiator's and the responder's member index.
fn prologue(initiator: u16, responder: u16) -> Vec<u8> {
    let mut bytes = PROLOGUE.to_vec();
    bytes.extend_from_slice(&initiator.to_be_bytes());
    bytes.extend_from_slice(&responder.to_be_bytes());
    bytes
}

/// The KK handshake of member `me` dialing member `them` (whose static
/// key is `remote`): `me` is the initiator.
pub(crate) fn initiator(
    params: &NoiseParams,
    me: &Identity,
    my_index: u16,
    remote: &[u8; 32],
    their_index: u16,
) -> Result<HandshakeState, snow::Error> {
    let prologue = prologue(my_index, their_index);
    snow::Builder::new(params.clone())
        .local_private_key(me.private())?
        .remote_public_key(remote)?
        .prologue(&prologue)?
        .build_initiator()
}

/// The KK handshake of member `me` accepting member `them` (whose static
/// key is `remote`): `me` is the responder.
pub(crate) fn responder(
    params: &NoiseParams,
    me: &Identity,
    my_index: u16,
    remote: &[u8; 32],
    their_index: u16,
) -> Result<HandshakeState, snow::Error> {
    let prologue = prologue(their_index, my_index);
    snow::Builder::new(params.clone())
        .local_private_key(me.private())?
        .remote_public_key(remote)?
        .prologue(&prologue)?
        .build_responder()
}
