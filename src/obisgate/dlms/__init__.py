"""DLMS/COSEM over HDLC (IEC 62056-46, -5-3, -6-2), written from the standards.

A sans-IO core like :mod:`obisgate.protocol`: no I/O, no sleeping, no clock.

* :mod:`~obisgate.dlms.crc` CRC-16/X.25 (HCS, FCS)
* :mod:`~obisgate.dlms.hdlc` frames, addresses, the frame reader, SNRM/UA parameters
* :mod:`~obisgate.dlms.axdr` A-XDR ``Data`` encoding and decoding
* :mod:`~obisgate.dlms.cosem` OBIS codes, classes, units, scalers, date-time
* :mod:`~obisgate.dlms.apdu` AARQ/AARE, RLRQ/RLRE, GET (normal, list, blocks)
* :mod:`~obisgate.dlms.client` the client state machine (link, association, GET)
* :mod:`~obisgate.dlms.server` the server state machine the simulator runs
"""
