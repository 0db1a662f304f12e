#!/usr/bin/env python3
"""One upload through the system's libssh2 (ctypes, blocking mode), the way a libssh2 client can send a file.

Usage: libssh2-paths.py MODE ADDRESS PORT KEY LOCAL REMOTE [CIPHER MAC]
MODE: `sftp` (SFTP WRITE requests, 1 MiB per libssh2_sftp_write call, as the libssh2 transport sends) or
`exec` (`cat > REMOTE` on an exec channel, 256 KiB per libssh2_channel_write call, no SFTP server).
CIPHER and MAC, when given, are the only ones offered (libssh2_session_method_pref).
Prints `MODE seconds user system cipher mac`: the transfer alone (after authentication, until the remote
side has the whole file) and this process's CPU for it; the file is read into memory before either."""
import ctypes
import resource
import socket
import sys
import time

L = ctypes.CDLL("libssh2.so.1")
P, I, U, S, SZ, C = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_ssize_t


def fn(name, restype, *argtypes):
    f = getattr(L, name)
    f.restype, f.argtypes = restype, list(argtypes)
    return f


init = fn("libssh2_init", I, I)
session_init = fn("libssh2_session_init_ex", P, P, P, P, P)
method_pref = fn("libssh2_session_method_pref", I, P, I, S)
methods = fn("libssh2_session_methods", S, P, I)
handshake = fn("libssh2_session_handshake", I, P, I)
auth = fn("libssh2_userauth_publickey_fromfile_ex", I, P, S, U, S, S, S)
channel_open = fn("libssh2_channel_open_ex", P, P, S, U, U, U, S, U)
startup = fn("libssh2_channel_process_startup", I, P, S, U, S, U)
channel_write = fn("libssh2_channel_write_ex", C, P, I, P, SZ)
send_eof = fn("libssh2_channel_send_eof", I, P)
wait_eof = fn("libssh2_channel_wait_eof", I, P)
channel_close = fn("libssh2_channel_close", I, P)
wait_closed = fn("libssh2_channel_wait_closed", I, P)
exit_status = fn("libssh2_channel_get_exit_status", I, P)
sftp_init = fn("libssh2_sftp_init", P, P)
sftp_open = fn("libssh2_sftp_open_ex", P, P, S, U, ctypes.c_ulong, ctypes.c_long, I)
sftp_write = fn("libssh2_sftp_write", C, P, P, SZ)
sftp_close = fn("libssh2_sftp_close_handle", I, P)

CRYPT_CS, MAC_CS = 2, 4
FXF_WRITE, FXF_CREAT, FXF_TRUNC = 0x2, 0x8, 0x10


def main():
    mode, address, port, key, local, remote = sys.argv[1:7]
    data = open(local, "rb").read()
    buf = ctypes.create_string_buffer(data, len(data))
    base = ctypes.addressof(buf)
    init(0)
    sock = socket.create_connection((address, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    session = session_init(None, None, None, None)
    if len(sys.argv) > 8:
        method_pref(session, CRYPT_CS, sys.argv[7].encode())
        method_pref(session, MAC_CS, sys.argv[8].encode())
    if handshake(session, sock.fileno()) != 0:
        sys.exit("handshake failed")
    if auth(session, b"root", 4, None, key.encode(), None) != 0:
        sys.exit("authentication failed")
    cipher, mac = methods(session, CRYPT_CS).decode(), methods(session, MAC_CS).decode()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    offset = 0
    if mode == "exec":
        channel = channel_open(session, b"session", 7, 2 * 1024 * 1024, 32768, None, 0)
        line = b"cat > " + remote.encode()
        if not channel or startup(channel, b"exec", 4, line, len(line)) != 0:
            sys.exit("cannot start cat")
        while offset < len(data):
            n = channel_write(channel, 0, base + offset, min(len(data) - offset, 256 * 1024))
            if n <= 0:
                sys.exit(f"write failed: {n}")
            offset += n
        send_eof(channel)
        wait_eof(channel)
        channel_close(channel)
        wait_closed(channel)
        if exit_status(channel) != 0:
            sys.exit("cat failed")
    else:
        sftp = sftp_init(session)
        handle = sftp_open(sftp, remote.encode(), len(remote.encode()), FXF_WRITE | FXF_CREAT | FXF_TRUNC, 0o600, 0)
        if not handle:
            sys.exit("cannot open the remote file")
        while offset < len(data):
            end = min(offset + 1048576, len(data))
            while offset < end:
                n = sftp_write(handle, base + offset, end - offset)
                if n <= 0:
                    sys.exit(f"write failed: {n}")
                offset += n
        sftp_close(handle)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{mode} {seconds:.3f} {after.ru_utime - before.ru_utime:.3f} {after.ru_stime - before.ru_stime:.3f} {cipher} {mac}")


main()
