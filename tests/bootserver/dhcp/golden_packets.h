#ifndef MIDWIFE_TESTS_BOOTSERVER_DHCP_GOLDEN_PACKETS_H_
#define MIDWIFE_TESTS_BOOTSERVER_DHCP_GOLDEN_PACKETS_H_

// Realistic PXE DHCP requests, written out by hand byte by byte from what
// such firmware sends (see tests/bootserver/test_bytes.h FromHex for "00*64").

#include <string_view>

namespace midwife::bootserver::testing {

// A PXE 2.1 BIOS ROM (Intel UNDI 2.1) broadcasting its DISCOVER.
inline constexpr std::string_view kBiosPxeDiscover = R"(
01 01 06 00                          # BOOTREQUEST, Ethernet, hlen 6, hops 0
d5 0a 3f 19                          # xid
00 04 80 00                          # secs 4, flags BROADCAST
00 00 00 00  00 00 00 00             # ciaddr, yiaddr
00 00 00 00  00 00 00 00             # siaddr, giaddr
52 54 00 12 34 56  00*10             # chaddr 52:54:00:12:34:56
00*64                                # sname
00*128                               # file
63 82 53 63                          # magic cookie
35 01 01                             # 53 message type DISCOVER
39 02 05 c0                          # 57 max message size 1472
37 22 01 02 03 04 05 06 0c 0d 0f 11 12 16 17 1c 28 29 2a 2b 32 33 36 3a 3b 3c
      42 43 80 81 82 83 84 85 86 87  # 55 parameter request list
5d 02 00 00                          # 93 client arch 0: x86 BIOS
5e 03 01 02 01                       # 94 client NDI: UNDI 2.1
61 11 00 44 45 4c 4c 52 00 10 4e 80 35 b4 c0 4f 39 36 32
                                     # 97 client UUID: type 0 + 16 bytes
3c 20 50 58 45 43 6c 69 65 6e 74 3a 41 72 63 68 3a 30 30 30 30 30 3a 55 4e 44 49 3a
      30 30 32 30 30 31              # 60 "PXEClient:Arch:00000:UNDI:002001"
ff                                   # end
)";

// OVMF (EDK2) x64 UEFI PXE DISCOVER; EDK2 leaves the broadcast flag clear.
inline constexpr std::string_view kUefiX64PxeDiscover = R"(
01 01 06 00
4b 2e 91 07                          # xid
00 00 00 00                          # secs 0, flags 0
00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
52 54 00 ab cd ef  00*10             # chaddr 52:54:00:ab:cd:ef
00*64
00*128
63 82 53 63
35 01 01                             # 53 DISCOVER
39 02 05 c0                          # 57 max message size 1472
37 23 01 02 03 04 05 06 0c 0d 0f 11 12 16 17 1c 28 29 2a 2b 32 33 36 3a 3b 3c
      42 43 61 80 81 82 83 84 85 86 87  # 55 parameter request list
61 11 00 8f 6a 2d 13 56 f0 4b 4e 9c 1d 2f 88 ae 10 77 01
                                     # 97 client UUID
5e 03 01 03 00                       # 94 client NDI: UNDI 3.0
5d 02 00 07                          # 93 client arch 7: x64 UEFI
3c 20 50 58 45 43 6c 69 65 6e 74 3a 41 72 63 68 3a 30 30 30 30 37 3a 55 4e 44 49 3a
      30 30 33 30 30 30              # 60 "PXEClient:Arch:00007:UNDI:003000"
ff
)";

// iPXE (chainloaded from undionly.kpxe) sending its own DISCOVER: user class
// "iPXE" and the iPXE encapsulated option 175.
inline constexpr std::string_view kIpxeDiscover = R"(
01 01 06 00
1f 00 c0 de                          # xid
00 00 80 00                          # flags BROADCAST
00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
52 54 00 12 34 56  00*10             # the same host as kBiosPxeDiscover
00*64
00*128
63 82 53 63
35 01 01                             # 53 DISCOVER
39 02 05 dc                          # 57 max message size 1500
5d 02 00 00                          # 93 client arch 0
5e 03 01 02 01                       # 94 UNDI 2.1
3c 20 50 58 45 43 6c 69 65 6e 74 3a 41 72 63 68 3a 30 30 30 30 30 3a 55 4e 44 49 3a
      30 30 32 30 30 31              # 60 "PXEClient:Arch:00000:UNDI:002001"
4d 04 69 50 58 45                    # 77 user class "iPXE"
af 0c 13 01 01 17 01 01 15 01 01 19 01 01
                                     # 175 iPXE features: pxeext, http, tftp, dns
61 11 00 44 45 4c 4c 52 00 10 4e 80 35 b4 c0 4f 39 36 32
                                     # 97 client UUID
37 0d 01 03 06 07 0c 0f 11 1a 2b 3c 42 43 af
                                     # 55 parameter request list
ff
)";

// An x64 UEFI DISCOVER forwarded by a relay agent (ip helper-address) from
// another subnet: hops 1, giaddr 10.20.30.1.
inline constexpr std::string_view kRelayedUefiDiscover = R"(
01 01 06 01                          # hops 1
77 88 99 aa                          # xid
00 02 00 00
00 00 00 00  00 00 00 00  00 00 00 00
0a 14 1e 01                          # giaddr 10.20.30.1
00 25 90 aa bb cc  00*10             # chaddr 00:25:90:aa:bb:cc
00*64
00*128
63 82 53 63
35 01 01                             # 53 DISCOVER
5d 02 00 07                          # 93 client arch 7
5e 03 01 03 10                       # 94 UNDI 3.16
3c 20 50 58 45 43 6c 69 65 6e 74 3a 41 72 63 68 3a 30 30 30 30 37 3a 55 4e 44 49 3a
      30 30 33 30 31 36              # 60 "PXEClient:Arch:00007:UNDI:003016"
52 0a 01 08 47 69 31 2f 30 2f 31 37  # 82 relay agent info: circuit id "Gi1/0/17"
ff
)";

}  // namespace midwife::bootserver::testing

#endif  // MIDWIFE_TESTS_BOOTSERVER_DHCP_GOLDEN_PACKETS_H_
