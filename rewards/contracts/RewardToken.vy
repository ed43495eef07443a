# pragma version 0.4.3
# @license MIT
"""
@title RewardToken
@notice The platform's ERC-20 reward token, with one batch transfer for payouts.
@dev The deployer receives the initial supply and is the minter: on the in-process chain the
     payer account deploys it and so holds the treasury. ``transfer_batch`` debits the sender
     once for the whole batch and credits each recipient, logging one standard ``Transfer``
     per recipient so that wallets, explorers and the reconciliation command see ordinary
     ERC-20 transfers.
"""

from ethereum.ercs import IERC20

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event MinterChanged:
    minter: indexed(address)

MAX_BATCH: constant(uint256) = 256

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
minter: public(address)


@deploy
def __init__(_name: String[32], _symbol: String[16], _decimals: uint8, _supply: uint256):
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals
    self.minter = msg.sender
    self.balanceOf[msg.sender] = _supply
    self.totalSupply = _supply
    log Transfer(sender=empty(address), receiver=msg.sender, value=_supply)
    log MinterChanged(minter=msg.sender)


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    assert _to != empty(address), "transfer to the zero address"
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)


@external
def transfer(_to: address, _value: uint256) -> bool:
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    self.allowance[_from][msg.sender] -= _value
    self._transfer(_from, _to, _value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True


@external
def transfer_batch(_to: DynArray[address, MAX_BATCH], _values: DynArray[uint256, MAX_BATCH]) -> bool:
    """
    @notice Pay each ``_to[i]`` the amount ``_values[i]`` from the caller, all or nothing.
    @dev The caller's balance is debited once with the total (reverting on insufficient
         balance, which undoes every credit): one storage write for the payer instead of one
         per recipient.
    """
    assert len(_to) == len(_values), "lengths differ"
    total: uint256 = 0
    for i: uint256 in range(len(_to), bound=MAX_BATCH):
        receiver: address = _to[i]
        value: uint256 = _values[i]
        assert receiver != empty(address), "transfer to the zero address"
        self.balanceOf[receiver] += value
        total += value
        log Transfer(sender=msg.sender, receiver=receiver, value=value)
    self.balanceOf[msg.sender] -= total
    return True


@external
def mint(_to: address, _value: uint256) -> bool:
    """@notice Create new tokens (the treasury tops itself up); only the minter may."""
    assert msg.sender == self.minter, "only the minter"
    assert _to != empty(address), "mint to the zero address"
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(sender=empty(address), receiver=_to, value=_value)
    return True


@external
def set_minter(_minter: address):
    assert msg.sender == self.minter, "only the minter"
    self.minter = _minter
    log MinterChanged(minter=_minter)
