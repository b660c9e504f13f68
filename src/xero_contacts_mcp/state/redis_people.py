"""Hosted mode's people in Redis, shared by every replica (see `people` for what is stored and why).

Keys under the prefix: `person:<id>:login` (the sealed token set; RedisTokenStore gives it the same
compare-and-set and leased refresh lock as the single login, at `person:<id>:login:lock`),
`person:<id>:record` (the sealed record) and the set `people` naming everyone.
"""

from __future__ import annotations

from .people import PersonRecord, SealedCodec, Sealer, check_user_id, unreadable
from .redis_state import RedisState, RedisTokenStore
from .tokens import TokenStore


class RedisPeople:
    def __init__(self, state: RedisState, sealer: Sealer, *, lease: float = 10.0) -> None:
        self.state = state
        self.sealer = sealer
        self.codec = SealedCodec(sealer)
        self.lease = lease
        self._index = state.key("people")

    def describe(self) -> str:
        return f"Redis {self.state.describe()}"

    def _record_key(self, user_id: str) -> str:
        return self.state.key("person", check_user_id(user_id), "record")

    def tokens(self, user_id: str) -> RedisTokenStore:
        return RedisTokenStore(self.state, f"person:{check_user_id(user_id)}:login", lease=self.lease,
                               codec=self.codec)

    async def record(self, user_id: str) -> PersonRecord | None:
        key = self._record_key(user_id)
        with self.state.guard("reading a person's record"):
            sealed = await self.state.client.get(key)
        return None if sealed is None else self._open(str(sealed), key)

    def _open(self, sealed: str, key: str) -> PersonRecord:
        try:
            return PersonRecord.from_json(self.sealer.open(sealed))
        except ValueError:
            raise unreadable(f"the Redis key {key}") from None

    async def save_record(self, record: PersonRecord) -> None:
        sealed = self.sealer.seal(record.to_json())
        with self.state.guard("saving a person's record"):
            async with self.state.client.pipeline(transaction=True) as pipe:
                pipe.set(self._record_key(record.user_id), sealed)
                pipe.sadd(self._index, record.user_id)
                await pipe.execute()

    async def records(self) -> list[PersonRecord]:
        with self.state.guard("listing people"):
            ids = sorted(str(i) for i in await self.state.client.smembers(self._index))
            keys = [self._record_key(i) for i in ids]
            values = await self.state.client.mget(keys) if keys else []
        return [self._open(str(v), k) for k, v in zip(keys, values, strict=True) if v is not None]

    async def exists(self, user_id: str) -> bool:
        with self.state.guard("checking a person"):
            return bool(await self.state.client.exists(self._record_key(user_id)))

    async def forget(self, user_id: str) -> bool:
        tokens: TokenStore = self.tokens(user_id)
        async with tokens.lock():
            with self.state.guard("deleting a person"):
                async with self.state.client.pipeline(transaction=True) as pipe:
                    pipe.delete(self._record_key(user_id), self.state.key("person", user_id, "login"))
                    pipe.srem(self._index, user_id)
                    deleted, _ = await pipe.execute()
        return bool(deleted)
