# pragma version ^0.4.0
"""A minimal ERC-721 for the collector's tests: tokens minted with any tokenURI, Enumerable optional."""

name: public(String[64])
totalSupply: public(uint256)
enumerable: public(bool)
minter: address
ids: HashMap[uint256, uint256]
uris: HashMap[uint256, String[4096]]


@deploy
def __init__(collection_name: String[64], is_enumerable: bool):
    self.name = collection_name
    self.enumerable = is_enumerable
    self.minter = msg.sender


@external
def mint(token_id: uint256, uri: String[4096]):
    assert msg.sender == self.minter
    self.ids[self.totalSupply] = token_id
    self.uris[token_id] = uri
    self.totalSupply += 1


@view
@external
def tokenByIndex(index: uint256) -> uint256:
    assert index < self.totalSupply
    return self.ids[index]


@view
@external
def tokenURI(token_id: uint256) -> String[4096]:
    assert len(self.uris[token_id]) > 0, "nonexistent token"
    return self.uris[token_id]


@view
@external
def supportsInterface(interface_id: bytes4) -> bool:
    if interface_id == 0x780e9d63:
        return self.enumerable
    return interface_id == 0x01ffc9a7 or interface_id == 0x80ac58cd or interface_id == 0x5b5e139f
