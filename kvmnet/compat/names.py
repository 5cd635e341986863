"""The method names of libvirt-python 9.0's classes (``libvirt.py`` of python3-libvirt 9.0.0).

The compatible classes answer every one of these names: with kvmnet's implementation where
kvmnet does the work, else with a method that raises ``libvirtError`` with
``VIR_ERR_NO_SUPPORT`` (:mod:`kvmnet.compat.errors`), never ``AttributeError``, so a client
that probes a feature sees libvirt's "not supported" answer.
"""
from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _methods(text: str) -> frozenset[str]:
    # c_pointer (the address of libvirt's C object) is every class's; kvmnet has no C object
    return _words(text) | {"c_pointer"}

CONNECT: frozenset[str] = _methods("""
    allocPages baselineCPU baselineHypervisorCPU changeBegin changeCommit changeRollback
    close compareCPU compareHypervisorCPU createLinux createXML createXMLWithFiles defineXML
    defineXMLFlags domainEventDeregister domainEventDeregisterAny domainEventRegister
    domainEventRegisterAny domainListGetStats domainXMLFromNative domainXMLToNative
    findStoragePoolSources getAllDomainStats getCPUMap getCPUModelNames getCPUStats
    getCapabilities getCellsFreeMemory getDomainCapabilities getFreeMemory getFreePages
    getHostname getInfo getLibVersion getMaxVcpus getMemoryParameters getMemoryStats
    getSEVInfo getSecurityModel getStoragePoolCapabilities getSysinfo getType getURI
    getVersion interfaceDefineXML interfaceLookupByMACString interfaceLookupByName isAlive
    isEncrypted isSecure listAllDevices listAllDomains listAllInterfaces
    listAllNWFilterBindings listAllNWFilters listAllNetworks listAllSecrets
    listAllStoragePools listDefinedDomains listDefinedInterfaces listDefinedNetworks
    listDefinedStoragePools listDevices listDomainsID listInterfaces listNWFilters
    listNetworks listSecrets listStoragePools lookupByID lookupByName lookupByUUID
    lookupByUUIDString networkCreateXML networkCreateXMLFlags networkDefineXML
    networkDefineXMLFlags networkEventDeregisterAny networkEventRegisterAny
    networkLookupByName networkLookupByUUID networkLookupByUUIDString newStream
    nodeDeviceCreateXML nodeDeviceDefineXML nodeDeviceEventDeregisterAny
    nodeDeviceEventRegisterAny nodeDeviceLookupByName nodeDeviceLookupSCSIHostByWWN
    numOfDefinedDomains numOfDefinedInterfaces numOfDefinedNetworks numOfDefinedStoragePools
    numOfDevices numOfDomains numOfInterfaces numOfNWFilters numOfNetworks numOfSecrets
    numOfStoragePools nwfilterBindingCreateXML nwfilterBindingLookupByPortDev
    nwfilterDefineXML nwfilterDefineXMLFlags nwfilterLookupByName nwfilterLookupByUUID
    nwfilterLookupByUUIDString registerCloseCallback restore restoreFlags restoreParams
    saveImageDefineXML saveImageGetXMLDesc secretDefineXML secretEventDeregisterAny
    secretEventRegisterAny secretLookupByUUID secretLookupByUUIDString secretLookupByUsage
    setIdentity setKeepAlive setMemoryParameters storagePoolCreateXML storagePoolDefineXML
    storagePoolEventDeregisterAny storagePoolEventRegisterAny storagePoolLookupByName
    storagePoolLookupByTargetPath storagePoolLookupByUUID storagePoolLookupByUUIDString
    storageVolLookupByKey storageVolLookupByPath suspendForDuration unregisterCloseCallback
    virConnGetLastError virConnResetLastError
""")

NETWORK: frozenset[str] = _methods("""
    DHCPLeases UUID UUIDString XMLDesc autostart bridgeName connect create destroy isActive
    isPersistent listAllPorts name portCreateXML portLookupByUUID portLookupByUUIDString
    setAutostart undefine update
""")

NETWORK_PORT: frozenset[str] = _methods("""
    UUID UUIDString XMLDesc connect delete network parameters setParameters
""")

INTERFACE: frozenset[str] = _methods("""
    MACString XMLDesc connect create destroy isActive name undefine
""")

NODE_DEVICE: frozenset[str] = _methods("""
    XMLDesc autostart connect create destroy detachFlags dettach isActive isPersistent
    listCaps name numOfCaps parent reAttach reset setAutostart undefine
""")

DOMAIN: frozenset[str] = _methods("""
    FDAssociate ID OSType UUID UUIDString XMLDesc abortJob abortJobFlags addIOThread
    agentSetResponseTimeout attachDevice attachDeviceFlags authorizedSSHKeysGet
    authorizedSSHKeysSet autostart backupBegin backupGetXMLDesc blkioParameters blockCommit
    blockCopy blockInfo blockIoTune blockJobAbort blockJobInfo blockJobSetSpeed blockPeek
    blockPull blockRebase blockResize blockStats blockStatsFlags checkpointCreateXML
    checkpointLookupByName connect controlInfo coreDump coreDumpWithFormat create
    createWithFiles createWithFlags delIOThread destroy destroyFlags detachDevice
    detachDeviceAlias detachDeviceFlags diskErrors emulatorPinInfo fSTrim fsFreeze fsInfo
    fsThaw getCPUStats getTime guestInfo guestVcpus hasCurrentSnapshot hasManagedSaveImage
    hostname info injectNMI interfaceAddresses interfaceParameters interfaceStats
    ioThreadInfo isActive isPersistent isUpdated jobInfo jobStats launchSecurityInfo
    listAllCheckpoints listAllSnapshots managedSave managedSaveDefineXML
    managedSaveGetXMLDesc managedSaveRemove maxMemory maxVcpus memoryParameters memoryPeek
    memoryStats messages metadata migrate migrate2 migrate3 migrateGetCompressionCache
    migrateGetMaxDowntime migrateGetMaxSpeed migrateSetCompressionCache
    migrateSetMaxDowntime migrateSetMaxSpeed migrateStartPostCopy migrateToURI migrateToURI2
    migrateToURI3 name numaParameters openChannel openConsole openGraphics openGraphicsFD
    pMSuspendForDuration pMWakeup perfEvents pinEmulator pinIOThread pinVcpu pinVcpuFlags
    reboot rename reset resume revertToSnapshot save saveFlags saveParams
    schedulerParameters schedulerParametersFlags schedulerType screenshot securityLabel
    securityLabelList sendKey sendProcessSignal setAutostart setBlkioParameters
    setBlockIoTune setBlockThreshold setGuestVcpus setIOThreadParams setInterfaceParameters
    setLaunchSecurityState setLifecycleAction setMaxMemory setMemory setMemoryFlags
    setMemoryParameters setMemoryStatsPeriod setMetadata setNumaParameters setPerfEvents
    setSchedulerParameters setSchedulerParametersFlags setTime setUserPassword setVcpu
    setVcpus setVcpusFlags shutdown shutdownFlags snapshotCreateXML snapshotCurrent
    snapshotListNames snapshotLookupByName snapshotNum startDirtyRateCalc state suspend
    undefine undefineFlags updateDeviceFlags vcpuPinInfo vcpus vcpusFlags
""")

#: the module's functions (the ones kvmnet.compat.module does not define raise NO_SUPPORT)
MODULE: frozenset[str] = _words("""
    getVersion open openAuth openReadOnly registerErrorHandler virEventAddHandle
    virEventAddTimeout virEventInvokeFreeCallback virEventRegisterDefaultImpl
    virEventRegisterImpl virEventRemoveHandle virEventRemoveTimeout virEventRunDefaultImpl
    virEventUpdateHandle virEventUpdateTimeout virGetLastError virGetLastErrorCode
    virGetLastErrorDomain virGetLastErrorMessage virInitialize virResetLastError
""")
