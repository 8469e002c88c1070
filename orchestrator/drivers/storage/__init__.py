"""Storage driver: EBS volumes and snapshot layers as qcow2 backing chains.

``qcow2`` narrow qemu-img functions, ``live`` libvirt block operations on running domains,
``volumes`` the ``StorageDriver`` contract and ``Qcow2Storage``, ``fake`` the in-memory driver.
"""
