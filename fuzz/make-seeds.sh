#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/<target>/ (checked in; each
# file is a small valid input the fuzzer mutates from). Needs only bash,
# printf, tar and gzip. Deterministic: same files on every run.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus
rm -rf "$out"
mkdir -p "$out"/{tftp_codec,dhcp_codec,http_request,boot_cfg,mac_address,state_archive}_fuzz

# --- TFTP (RFC 1350, 2347-2349, 7440) ---
t=$out/tftp_codec_fuzz
printf '\0\1pxelinux.0\0octet\0' >"$t/rrq"
printf '\0\1mboot.c32\0octet\0blksize\0001468\0tsize\0000\0windowsize\00016\0timeout\0003\0' >"$t/rrq_options"
printf '\0\1/boot/aa-bb-cc-dd-ee-ff/boot.cfg\0NetASCII\0BLKSIZE\0008\0' >"$t/rrq_upper"
printf '\0\2upload.bin\0octet\0' >"$t/wrq"
printf '\0\3\0\1hello, world' >"$t/data"
printf '\0\4\0\1' >"$t/ack"
printf '\0\5\0\1File not found\0' >"$t/error"
printf '\0\6blksize\0001468\0tsize\00012345\0' >"$t/oack"

# --- DHCP (RFC 2131/2132, PXE 2.1, RFC 4578) ---
d=$out/dhcp_codec_fuzz
# header <op> <ciaddr-hex> <giaddr-hex>: 236 fixed bytes + magic cookie.
header() {
  printf "\\x$1\\x01\\x06\\x00\\x12\\x34\\x56\\x78\\x00\\x04\\x80\\x00"
  printf "$2"; printf '\0\0\0\0\0\0\0\0'; printf "$3"
  printf '\x52\x54\x00\x12\x34\x56'; head -c 10 /dev/zero
  head -c 192 /dev/zero
  printf '\x63\x82\x53\x63'
}
vendor_pxe='\x3c\x20PXEClient:Arch:00000:UNDI:002001'
{ header 01 '\0\0\0\0' '\0\0\0\0'
  printf '\x35\x01\x01'; printf "$vendor_pxe"; printf '\x5d\x02\x00\x00'
  printf '\x61\x11\x00'; head -c 16 /dev/zero | tr '\0' '\x11'
  printf '\x37\x04\x01\x03\x2b\x3c\xff'
} >"$d/pxe_bios_discover"
{ header 01 '\0\0\0\0' '\0\0\0\0'
  printf '\x35\x01\x01\x3c\x20PXEClient:Arch:00007:UNDI:003016\x5d\x02\x00\x07\xff'
} >"$d/pxe_uefi_discover"
{ header 01 '\0\0\0\0' '\xc0\x00\x02\x01'
  printf '\x35\x01\x01\x3c\x20PXEClient:Arch:00000:UNDI:002001\x5d\x02\x00\x00'
  printf '\x4d\x04iPXE\xaf\x03\x13\x01\x01\xff'
} >"$d/ipxe_relayed"
{ header 01 '\xc0\x00\x02\x07' '\0\0\0\0'
  printf '\x35\x01\x03\x3c\x09PXEClient\x5d\x02\x00\x07\x36\x04\xc0\x00\x02\x01\xff'
} >"$d/pxe_request_4011"
{ header 01 '\0\0\0\0' '\0\0\0\0'
  printf '\x35\x01\x01\x3c\x21HTTPClient:Arch:00016:UNDI:003001\x5d\x02\x00\x10\xff'
} >"$d/http_boot_discover"
# Option overload (52 = 3: file and sname hold options), a split option 60.
{ header 01 '\0\0\0\0' '\0\0\0\0'
  printf '\x35\x01\x01\x34\x01\x03\x3c\x05PXECl\xff'
} >"$d/overload_head"
{ head -c 108 "$d/overload_head"
  printf '\x3c\x04ient\x5d\x02\x00\x00\xff'; head -c 117 /dev/zero
  tail -c +237 "$d/overload_head"
} >"$d/overload"
rm "$d/overload_head"

# --- HTTP requests as hosts and admins send them ---
h=$out/http_request_fuzz
printf 'GET /boot/52-54-00-12-34-56/boot.ipxe HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nUser-Agent: iPXE/1.21.1\r\n\r\n' >"$h/script"
printf 'GET /blobs/sha256%%3Aab12?x=1&y=%%41 HTTP/1.1\r\nHost: a\r\nRange: bytes=2-9\r\nIf-Range: "sha256-abc"\r\n\r\n' >"$h/range"
printf 'HEAD /ipxe/undionly.kpxe HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/"x", "sha256-abc"\r\nRange: bytes=-4\r\n\r\n' >"$h/head_conditional"
printf 'POST /hosts/52-54-00-12-34-56/state HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nContent-Length: 5\r\n\r\nhello' >"$h/post_state"
printf 'POST /hosts/x/report HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' >"$h/chunked"
printf 'GET / HTTP/1.0\r\n\r\n' >"$h/http10"

# --- boot.cfg: the golden files of the codec tests ---
cp ../tests/imagebuilder/testdata/*.cfg "$out/boot_cfg_fuzz/"

# --- MAC addresses, every accepted form ---
m=$out/mac_address_fuzz
printf 'aa:bb:cc:dd:ee:f0' >"$m/colon"
printf 'AA-BB-CC-DD-EE-F0' >"$m/dash"
printf 'aabb.ccdd.eef0' >"$m/cisco"
printf 'aabbccddeef0' >"$m/bare"
printf '01-52-54-00-12-34-56' >"$m/bootif"

# --- state tarballs: plain, ESXi state with nested local.tgz, config
# bundle, encrypted ESXi 7+ state ---
s=$out/state_archive_fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tgz() {  # tgz <out> <dir> <members...>: reproducible gzip'd tar
  local dest=$1 dir=$2; shift 2
  tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$@" | gzip -9n >"$dest"
}
mkdir -p "$work/local/etc/vmware/ssl" "$work/plain/data" "$work/state" "$work/bundle" "$work/ve"
printf 'hostname\n' >"$work/local/etc/hosts"
printf 'key\n' >"$work/local/etc/vmware/ssl/rui.key"
ln -s hosts "$work/local/etc/hosts.link"
tgz "$work/state/local.tgz" "$work/local" etc
tgz "$s/esxi_state" "$work/state" local.tgz
printf 'a\n' >"$work/plain/data/a.txt"
ln -s a.txt "$work/plain/data/b"
tgz "$s/plain" "$work/plain" data
printf 'RELEASELEVEL=VMware ESXi 8.0.2 build-22380479\n' >"$work/bundle/Manifest.txt"
cp "$s/esxi_state" "$work/bundle/state.tgz"
tgz "$s/config_bundle" "$work/bundle" Manifest.txt state.tgz
head -c 64 /dev/zero >"$work/ve/local.tgz.ve"
printf 'encrypted\n' >"$work/ve/encryption.info"
tgz "$s/esxi_state_encrypted" "$work/ve" local.tgz.ve encryption.info
