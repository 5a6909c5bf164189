"""The zip archive of a model file, written deterministically and read within bounds.

Reading never trusts a size the file claims: the member count, the central
directory, the manifest and every array are checked against bounds and a
budget of a few times the file's size before they are read.
"""

import contextlib
import errno
import json
import math
import os
import re
import stat
import struct
import zipfile
import zlib

import numpy as np

from .._utils.files import file_kind
from ._codec import short

MANIFEST = "skmnist.json"
# A fixed timestamp, so that saving the same model twice gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# What reading a damaged (or crafted) zip archive or one of its members can
# raise: bad CRCs and headers, unsupported compression, encrypted members.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
)
# Pickle protocol 2+ starts with b"\x80"; joblib files are such pickles.
PICKLE_MAGIC = b"\x80"


def write_member(archive, name, data, compression):
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


# -- load ---------------------------------------------------------------------

# Bounds on what load reads, so that a damaged or crafted file costs little
# memory and time. The tutorial pipeline's file, for scale: 21 members, a
# 2,237-byte directory, a 5 KB manifest and 10.7 MB of arrays, stored as they
# are in memory.
_MAX_MEMBERS = 4096
MAX_DIRECTORY_BYTES = 1 << 20  # the zip's central directory
MAX_MANIFEST_BYTES = 2 << 20
_MAX_JSON_DEPTH = 64
# All members together may inflate to at most this many times the file's size,
# plus a little: save stores the arrays uncompressed, so its files need 1x.
MAX_EXPANSION = 4
EXPANSION_SLACK = 1 << 20
_READ_CHUNK = 1 << 20
# Array members hold numbers and strings: never objects, records or void.
_ARRAY_KINDS = "biufcUS"
_ARRAY_MEMBER = re.compile(r"arrays/[0-9]{1,9}\.npy")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
# The zip records that locate the central directory, as zipfile reads them.
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = b"PK\x06\x06"
_ZIP64_END_RECORD_SIZE = 56


def open_regular_file(path):
    """``path`` opened for reading; a FIFO or a device is refused unread."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"{path}: not an skmnist model file (not a regular file but a "
                f"{file_kind(mode)})"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class BoundedReader:
    """A file whose reads never ask for more bytes than it holds.

    zipfile reads the central directory with one ``read(size)`` of the size
    that the file itself claims; a crafted claim would allocate that much.
    """

    def __init__(self, file, size):
        self._file = file
        self._size = size

    def read(self, n=-1):
        left = max(self._size - self._file.tell(), 0)
        return self._file.read(left if n is None or n < 0 else min(n, left))

    def seek(self, offset, whence=os.SEEK_SET):
        return self._file.seek(offset, whence)

    def tell(self):
        return self._file.tell()

    def seekable(self):
        return True


def directory_size(file, size):
    """The central directory's size as the end records give it to zipfile."""
    # zipfile takes the last 22 bytes when they are an end record without a
    # comment, else the last end record in the 64 KB before the end.
    file.seek(max(size - _END_RECORD_SIZE, 0))
    record = file.read(_END_RECORD_SIZE)
    where = size - _END_RECORD_SIZE
    if not (record[:4] == _END_RECORD and record[-2:] == b"\0\0"):
        start = max(size - _END_RECORD_SIZE - 0xFFFF, 0)
        file.seek(start)
        tail = file.read(size - start)
        found = tail.rfind(_END_RECORD)
        record = tail[found : found + _END_RECORD_SIZE]
        where = start + found
    if len(record) < _END_RECORD_SIZE:
        return 0  # zipfile refuses the archive itself
    (directory,) = struct.unpack("<L", record[12:16])
    # A ZIP64 locator just before the end record makes zipfile read the size
    # from the ZIP64 end record before that.
    locator_at = where - _ZIP64_LOCATOR_SIZE
    if locator_at >= 0:
        file.seek(locator_at)
        if file.read(4) == _ZIP64_LOCATOR:
            record_at = locator_at - _ZIP64_END_RECORD_SIZE
            if record_at >= 0:
                file.seek(record_at)
                record64 = file.read(_ZIP64_END_RECORD_SIZE)
                if record64[:4] == _ZIP64_END_RECORD:
                    (directory64,) = struct.unpack("<q", record64[40:48])
                    directory = max(directory, abs(directory64))
    return directory


def _members(archive, path):
    """The archive's members by name, refusing archives no save writes."""
    infos = archive.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise ValueError(
            f"{path}: not an skmnist model file ({len(infos)} members; at most "
            f"{_MAX_MEMBERS} are read)"
        )
    members = {}
    for info in infos:
        if info.filename in members:
            raise ValueError(
                f"{path}: corrupt skmnist model file: member {info.filename!r} "
                "appears twice"
            )
        members[info.filename] = info
    return members


class Budget:
    """The bytes that members may still inflate to."""

    def __init__(self, limit, file_size, path):
        self.limit = self.left = limit
        self.file_size = file_size
        self.path = path

    def take(self, nbytes, what):
        if nbytes > self.left:
            raise ValueError(
                f"{self.path}: not a plausible skmnist model file: {what} would "
                f"take {nbytes} bytes in memory, and the members of a "
                f"{self.file_size}-byte file may take {self.limit} in all (a "
                "zip bomb, or a damaged size)"
            )
        self.left -= nbytes


def open_member(archive, info, path):
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(
            f"{path}: corrupt skmnist model file: {info.filename} uses "
            f"compression method {info.compress_type}; skmnist files store or "
            "deflate their members"
        )
    if info.flag_bits & 0x1:
        raise ValueError(
            f"{path}: corrupt skmnist model file: {info.filename} is encrypted"
        )
    return archive.open(info)


def parse_json(raw, path):
    """The manifest's JSON, refused before parsing when it nests too deep."""
    problem = None
    try:
        text = raw.decode("utf-8")
        depth = _json_depth(text)
        if depth > _MAX_JSON_DEPTH:
            problem = f"it nests {depth} levels deep; skmnist reads {_MAX_JSON_DEPTH}"
        else:
            return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, huge ints
        problem = f"{type(exc).__name__}: {exc}"
    raise ValueError(
        f"{path}: not an skmnist model file ({MANIFEST} is not valid JSON: {problem})"
    )


def _json_depth(text):
    """How deep arrays and objects nest in ``text``, strings aside."""
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode(), dtype=np.uint8)
    opens = (skeleton == ord("[")) | (skeleton == ord("{"))
    closes = (skeleton == ord("]")) | (skeleton == ord("}"))
    steps = opens.view(np.int8) - closes.view(np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _refuse_constant(name):
    # save writes non-finite floats as tagged strings, never as bare NaN.
    raise ValueError(f"{name} is not JSON")


class ArrayReader:
    """Reads ``arrays/<i>.npy`` members, within the budget, never unpickling."""

    def __init__(self, archive, members, budget, path):
        self.archive = archive
        self.members = members
        self.budget = budget
        self.path = path

    def __call__(self, name):
        if not isinstance(name, str) or not _ARRAY_MEMBER.fullmatch(name):
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: bad array {short(name)}"
            )
        info = self.members.get(name)
        if info is None:
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: array {name} is missing"
            )
        with open_member(self.archive, info, self.path) as member:
            return self._read(member, info)

    def _read(self, member, info):
        name = info.filename
        # The header first: what it claims is checked against the member's
        # size and the budget before any data is read.
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f".npy format version {version} is not read")
        except Exception as exc:  # a header's parser raises many kinds
            raise ValueError(
                f"{self.path}: corrupt or truncated skmnist model file: {name} "
                f"is not a .npy array ({exc})"
            ) from None
        shape, fortran_order, dtype = header
        if (
            dtype.hasobject
            or dtype.fields is not None
            or dtype.subdtype is not None
            or dtype.kind not in _ARRAY_KINDS
            or dtype.itemsize == 0
        ):
            raise ValueError(
                f"{self.path}: corrupt skmnist model file: {name} holds dtype "
                f"{dtype}; skmnist files hold arrays of numbers and strings only"
            )
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        data_size = info.file_size - member.tell()
        if nbytes != data_size:
            raise ValueError(
                f"{self.path}: corrupt or truncated skmnist model file: the "
                f"header of {name} "
                f"claims shape {shape} of {dtype} ({nbytes} bytes), but the member "
                f"holds {data_size} bytes of data"
            )
        self.budget.take(nbytes, name)
        flat = np.empty(count, dtype=dtype)
        buffer = flat.view(np.uint8)
        done = 0
        while done < nbytes:  # in chunks: a lying member cannot inflate more
            got = member.readinto(buffer[done : done + _READ_CHUNK])
            if not got:
                raise EOFError(f"{name} ends after {done} of {nbytes} bytes")
            done += got
        if fortran_order:
            return flat.reshape(shape[::-1]).transpose()
        return flat.reshape(shape)


@contextlib.contextmanager
def open_archive(file, path):
    """``(archive, members, budget)`` of the open model file ``file``.

    Refuses what is not a zip archive (saying so when it is a pickle) and a
    central directory larger than skmnist files have, before zipfile reads it.
    """
    size = os.fstat(file.fileno()).st_size
    head = file.read(4)
    if not zipfile.is_zipfile(file):
        hint = ""
        if head[:1] == PICKLE_MAGIC:
            hint = (
                "; it looks like a pickle or joblib file: load such files with "
                "joblib.load, and only if you trust their source, since they "
                "run code when loaded"
            )
        raise ValueError(
            f"{path}: not an skmnist model file (not a zip archive: truncated, "
            f"or another format){hint}"
        )
    directory = directory_size(file, size)
    if directory > MAX_DIRECTORY_BYTES:
        raise ValueError(
            f"{path}: not an skmnist model file (its zip directory claims "
            f"{directory} bytes; skmnist files have a few kilobytes)"
        )
    with zipfile.ZipFile(BoundedReader(file, size)) as archive:
        members = _members(archive, path)
        yield (
            archive,
            members,
            Budget(MAX_EXPANSION * size + EXPANSION_SLACK, size, path),
        )
