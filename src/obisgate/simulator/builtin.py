"""Built-in meter profiles, modelled on readouts seen in the field.

Serial numbers and values are illustrative. The ``e350`` profile reproduces
the transcript of the protocol notes (section 10.1) byte for byte, BCC 0x43.
"""

from __future__ import annotations

from datetime import datetime

from obisgate.errors import ConfigError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.identification import ProtocolMode
from obisgate.simulator.profile import DlmsProfile, MeterProfile
from obisgate.simulator.programming_meter import ProgrammingProfile, demo_load_profile

__all__ = ["builtin_profiles", "get_profile"]

#: The load profile the programming-mode meters keep: one week of 15-minute intervals.
_PROFILE_START = datetime(2024, 3, 15)
_PROFILE_INTERVALS = 7 * 96


def _with_programming(profile: MeterProfile) -> MeterProfile:
    """The meter with programming mode: its readout registers, password 00000000."""
    return profile.replace(
        programming=ProgrammingProfile.from_lines(
            profile.lines, load_profile=demo_load_profile(_PROFILE_START, _PROFILE_INTERVALS)
        )
    )


def _mt174() -> MeterProfile:
    return MeterProfile(
        name="mt174",
        description="Iskra MT174, mode C 9600, tr 20 ms (lower-case 3rd letter), multi-value lines",
        manufacturer="ISk",
        baud_char="5",
        identification="MT174-0001",
        address="71234567",
        lines=(
            "C.1.0(71234567)",
            "0.0.0(71234567)",
            "F.F(0000000)",
            "0.9.1(0093215)",
            "0.9.2(1251118)",
            "0.2.0(V1.07)",
            "C.7.0(0007)",
            "1.8.0(0148123.456*kWh)",
            "1.8.1(0101234.567*kWh)",
            "1.8.2(0046888.889*kWh)",
            "1.8.0*24(0147238.4*kWh)",
            "1.8.0*23(0146001.9*kWh)",
            "2.8.0(0000000.000*kWh)",
            "1.6.0(02.468*kW)(2511180930)",
            "1.6.0*24(03.112*kW)(2510141745)",
            "32.7.0(230.1*V)",
            "52.7.0(229.8*V)",
            "72.7.0(231.0*V)",
            "31.7.0(  1.23*A)",
            "51.7.0(  0.87*A)",
            "71.7.0(  2.01*A)",
            "14.7.0(50.01*Hz)",
            "C.2.1(2501010000)",
            "0.2.2()",
            "C.1.1(        )",
            "15.8.0(0148123.456*)",
        ),
    )


def _e350() -> MeterProfile:
    return MeterProfile(
        name="e350",
        description="Landis+Gyr E350 (ZMF100), mode C 4800, as in the protocol notes 10.1",
        manufacturer="LGZ",
        baud_char="4",
        identification="ZMF100AC.M23",
        address="00188123",
        lines=(
            "F.F(00)",
            "C.1.0(12314330)",
            "0.0.0(00188123)",
            "1.8.0(001234.120*kWh)",
            "2.8.0(000000.000*kWh)",
            "32.7(229*V)",
            "31.7(000.03*A)",
            "0.9.1(131519)",
            "0.9.2(240315)",
        ),
    )


def _kamstrup() -> MeterProfile:
    return MeterProfile(
        name="kamstrup",
        description="Kamstrup 685-382 style, mode A (300 Bd), '!' glued to the last line",
        manufacturer="KAM",
        baud_char=" ",
        identification="685-382-QR-10",
        address="5123456",
        glued_end=True,
        lines=(
            "0.0(  5123456)",
            "1.8.0(0012345.6*kWh)",
            "1.8.0*24(0011876.2*kWh)",
            "2.8.0(0000000.0*kWh)",
            "1.6(000007,4*kW)",
            "0.9.1(14:32:07)",
            "0.9.2(25-11-18)",
            "F.F(00000000)",
        ),
    )


def _mode_b() -> MeterProfile:
    return MeterProfile(
        name="mode-b",
        description="Elster A1500 style, mode B: switches to 4800 after the identification",
        manufacturer="ELS",
        baud_char="D",
        identification="A1500-B",
        address="21043387",
        lines=(
            "0.0.0(21043387)",
            "C.1.0(00000021043387)",
            "F.F(00000000)",
            "1.8.0(0004711.213*kWh)",
            "1.8.0&01(0004650.004*kWh)",
            "1.8.0&02(0004598.120*kWh)",
            "2.8.0(0000012.345*kWh)",
            "3.8.0(0000101.500*kvarh)",
            "4.8.0(0000020.250*kvarh)",
            "1.6.0(0002.120*kW)(25-11-03 14:15)",
            "0.9.1(093215)",
            "0.9.2(251118)",
        ),
    )


def _uh50() -> MeterProfile:
    return MeterProfile(
        name="uh50",
        description="Landis+Gyr UH50 heat meter, mode B 2400, several data sets per line, '&'",
        manufacturer="LUG",
        baud_char="C",
        identification="UH50",
        address="66153690",
        lines=(
            "6.8(0029.055*MWh)6.26(01589.28*m3)9.21(66153690)",
            "6.26*01(01472.23*m3)6.8*01(0026.376*MWh)",
            "F(0)9.20(66153690)6.35(60*m)",
            "6.6(0017.6*kW)6.6*01(0017.6*kW)6.33(001.258*m3ph)9.4(098.5*C&090.8*C)",
            "6.31(0030873*h)6.32(0000000*h)9.22(R)9.6(000&66153690&0&000&66153690&0)",
            "9.7(20000)6.32*01(0000000*h)6.36(01-01&00:00)6.33*01(001.258*m3ph)",
            "6.8.1()6.8.2()6.8.3()6.8.4()6.8.5()",
            "9.4*01(098.5*C&090.8*C)",
            "6.36.1(2013-11-28)6.36.1*01(2013-11-28)",
            "9.36(2017-01-18&13:13:05)9.24(0.6*m3ph)",
            "9.17(0)9.18()9.19()9.25()",
            "9.1(0&1&0&-&CV&3&2.14)",
            "9.2(&&)9.29()9.31(0028649*h)",
            "9.0.1(00000000)9.0.2(00000000)9.34.1(000.00000*m3)9.34.2(000.00000*m3)",
            "8.26.1(00000000*m3)8.26.2(00000000*m3)",
            "8.26.1*01(00000000*m3)8.26.2*01(00000000*m3)",
            "6.26.1()6.26.4()6.26.5()",
            "6.26.1*01()6.26.4*01()6.26.5*01()0.0(66153690)",
        ),
    )


def _ehz_push() -> MeterProfile:
    return MeterProfile(
        name="ehz-push",
        description="Hager eHZ style push meter, mode D: pushes unframed data at 2400 Bd",
        manufacturer="HAG",
        baud_char="3",
        identification="eHZ010C_EHZ1WA02",
        mode=ProtocolMode.D,
        framed=False,
        push_interval_s=10.0,
        lines=(
            "1-0:0.0.0*255(1095110000000)",
            "1-0:1.8.0*255(00000123.4567*kWh)",
            "1-0:2.8.0*255(00000000.0000*kWh)",
            "1-0:96.5.5*255(80)",
            "0-0:96.1.255*255(1HAG0012345678)",
            "1-0:16.7.0*255(000215.30*W)",
        ),
    )


def _aux_mode_e() -> MeterProfile:
    return MeterProfile(
        name="aux",
        description="AUX SX330 style, mode E capable ('\\2', read as mode C 9600), 23-char ident",
        manufacturer="AUX",
        baud_char="5",
        enhanced="\\2",
        identification="SX330SKH10F10013",
        address="10013",
        lines=(
            "0.0.0(000000010013)",
            "0.2.0(/SX330)",
            "1.8.0(000123.45*kWh)",
            "2.8.0(000000.00*kWh)",
            "32.7.0(231.4*V)",
            "31.7.0(000.512*A)",
            "F.F.0(00000000)",
        ),
        dlms=DlmsProfile(),
    )


def _zmd_lines() -> tuple[str, ...]:
    lines = [
        "C.1.0(54459012)",
        "0.0.0(54459012)",
        "F.F(00000000)",
        "0.9.1(101500)",
        "0.9.2(240322)",
        "0.2.0(B40)",
    ]
    for code, base in (("1.8", 48123456), ("2.8", 1234567), ("3.8", 2345678), ("4.8", 345678)):
        unit = "kWh" if code in ("1.8", "2.8") else "kvarh"
        for tariff, share in ((0, 10), (1, 6), (2, 4)):
            lines.append(f"{code}.{tariff}({base * share // 10 / 1000:010.3f}*{unit})")
    for code, text in (
        ("32.7.0", "230.1*V"),
        ("52.7.0", "229.8*V"),
        ("72.7.0", "231.0*V"),
        ("31.7.0", "1.23*A"),
        ("51.7.0", "0.87*A"),
        ("71.7.0", "2.01*A"),
        ("21.7.0", "0.283*kW"),
        ("41.7.0", "0.200*kW"),
        ("61.7.0", "0.464*kW"),
        ("9.7.0", "1.021*kVA"),
        ("10.7.0", "0.000*kVA"),
        ("3.7.0", "0.112*kvar"),
        ("4.7.0", "0.000*kvar"),
        ("15.8.0", "049358.023*kWh"),
        ("16.7.0", "0.947*kW"),
        ("5.8.0", "001204.500*kvarh"),
        ("6.8.0", "000087.250*kvarh"),
        ("7.8.0", "000012.125*kvarh"),
        ("8.8.0", "000931.750*kvarh"),
    ):
        lines.append(f"{code}({text})")
    lines += [
        "1.7.0(0.947*kW)",
        "2.7.0(0.000*kW)",
        "14.7.0(50.01*Hz)",
        "1.6.0(02.468*kW)(2403180930)",
        "2.6.0(00.000*kW)(2403010000)",
        "C.7.0(0007)",
    ]
    return tuple(lines)


def _zmd_mode_e() -> MeterProfile:
    return _with_programming(
        MeterProfile(
            name="zmd",
            description=(
                "Landis+Gyr ZMD405 style, mode E: '\\2', ACK 2Z2 at 9600, then HDLC/DLMS "
                "(client 16 public, 1 with LLS 00000000; server 1/17), 30+ registers"
            ),
            manufacturer="LGZ",
            baud_char="5",
            enhanced="\\2",
            identification="ZMD4054459.B40",
            address="54459012",
            lines=_zmd_lines(),
            dlms=DlmsProfile(),
        )
    )


def _am550_hdlc() -> MeterProfile:
    return MeterProfile(
        name="am550",
        description="Iskra AM550 style, direct HDLC/DLMS from the first byte at 9600 8N1",
        manufacturer="ISK",
        baud_char="5",
        identification="AM550-TD2",
        mode=ProtocolMode.HDLC,
        lines=(
            "C.1.0(93452781)",
            "1.8.0(004512.345*kWh)",
            "1.8.1(003011.100*kWh)",
            "1.8.2(001501.245*kWh)",
            "2.8.0(000120.000*kWh)",
            "1.7.0(0.512*kW)",
            "32.7.0(231.2*V)",
            "31.7.0(2.21*A)",
            "14.7.0(49.99*Hz)",
        ),
        dlms=DlmsProfile(),
    )


def _ce301_sum7() -> MeterProfile:
    return MeterProfile(
        name="ce301",
        description="Energomera CE301 style, mode C 9600, BCC as 7-bit sum (SUM7)",
        manufacturer="EKT",
        baud_char="5",
        identification="CE301v12",
        address="009012345",
        bcc_method=BccMethod.SUM7,
        lines=(
            "SNUMB(009012345)",
            "ET0PE(5423.71)",
            "ET0PE(3301.05)",
            "ET0PE(2122.66)",
            "VOLTA(230.12)",
            "CURRE(1.205)",
            "FREQU(50.00)",
            "MODEL(2,CE301,12,00123456,dummy)",
        ),
    )


def _nzr_lf() -> MeterProfile:
    return MeterProfile(
        name="nzr",
        description="NZR SEM16 style, mode C 4800, all lower-case ID, unframed, LF-only lines",
        manufacturer="nzr",
        baud_char="4",
        identification="SEM16_S_v1.12",
        address="1612345",
        framed=False,
        line_end="\n",
        lines=(
            "0.0.0(1612345)",
            "1.8.0(0000812.4*kWh)",
            "2.8.0(0000000.0*kWh)",
            "0.9.1(12:01:44)",
            "0.9.2(25-11-18)",
        ),
    )


def _large() -> MeterProfile:
    lines = [
        "F.F(00000000)",
        "C.1.0(61234567)",
        "0.0.0(61234567)",
        "0.9.1(101500)",
        "0.9.2(251118)",
    ]
    for code in ("1.8.0", "2.8.0", "5.8.0"):
        total = 1_000_000 if code == "1.8.0" else 100_000
        for period in range(1, 100):
            value = (total - period * 937) / 10
            lines.append(f"{code}*{period:02d}({value:09.1f}*kWh)")
    for period in range(1, 21):
        lines.append(
            f"1.6.0*{period:02d}({(period * 37) % 100 / 10:05.2f}*kW)(25{period:02d}011200)"
        )
    lines.append("0.2.0(B26)")
    profile = MeterProfile(
        name="large",
        description=(
            f"Landis+Gyr ZMD style, mode C 9600, a large readout ({len(lines)} lines); "
            "a short list for /2!, register reads in programming mode (password 00000000)"
        ),
        manufacturer="LGZ",
        baud_char="5",
        identification="ZMD4104107.B26",
        address="61234567",
        lines=tuple(lines),
        lists=(("/2", ("0.9.1", "0.9.2", "1.8.0*01", "2.8.0*01", "5.8.0*01", "1.6.0*01")),),
    )
    return _with_programming(profile)


def _poison() -> MeterProfile:
    """Valid IEC 62056-21, but values that break a database: NUL padding, control
    characters (an ANSI escape), and a 400-digit number."""
    return MeterProfile(
        name="poison",
        description="mt174 with NUL-padded text, control characters and a 400-digit number",
        manufacturer="ISk",
        baud_char="5",
        identification="MT174-0666",
        address="71234666",
        lines=(
            "C.1.0(71234666)",
            "0.0.0(POISON\x00\x00\x00\x00)",
            "0.2.0(V1.07\x01\x1b[2J)",
            "1.8.0(0148123.456*kWh)",
            "1.8.1(" + "9" * 400 + "*kWh)",
            "32.7.0(230.1*V)",
            "C.1.1(\x00\x00\x00\x00\x00\x00\x00\x00)",
        ),
    )


def _mt174_programmable() -> MeterProfile:
    profile = _mt174().replace(
        lists=(("/2", ("0.9.1", "0.9.2", "1.8.0", "2.8.0", "1.6.0")),),
    )
    return _with_programming(profile)


_FACTORIES = (
    _e350,
    _mt174_programmable,
    _kamstrup,
    _mode_b,
    _uh50,
    _ehz_push,
    _aux_mode_e,
    _ce301_sum7,
    _nzr_lf,
    _large,
    _zmd_mode_e,
    _am550_hdlc,
    _poison,
)


def builtin_profiles() -> dict[str, MeterProfile]:
    """Every built-in profile by name (a new dict each call; profiles are immutable)."""
    return {p.name: p for p in (factory() for factory in _FACTORIES)}


def get_profile(name: str) -> MeterProfile:
    """The built-in profile called ``name``.

    Raises:
        ConfigError: no such profile (the message lists the names).
    """
    profiles = builtin_profiles()
    try:
        return profiles[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; built in: {', '.join(profiles)}") from None
