package aruba

import "fmt"

// DefaultRunningConfig is a realistic `show running-config` of an AOS 8 Mobility
// Conductor (virtual appliance) named hostname. Secrets appear hashed, as on devices.
func DefaultRunningConfig(hostname string) string {
	return fmt.Sprintf(`version 8.10
hostname "%s"
clock timezone Europe/Berlin 1 0
location "Building1.floor1"
mms config 0
controller config 412
ip access-list eth validuserethacl
  permit any
!
netservice svc-dhcp udp 67 68
netservice svc-dns udp 53
netservice svc-ssh tcp 22
netservice svc-https tcp 443
netservice svc-ntp udp 123
!
ip access-list session allowall
  any any any  permit
!
ip access-list session apprf-guest-sacl
!
aaa authentication-server tacacs "tacacs-01"
   host 10.20.30.41
   key 4f1c8a7d2e6b90c35d1e7a2f9c8b6d40
!
aaa server-group "mgmt-auth"
 auth-server tacacs-01
!
aaa authentication mgmt
   server-group "mgmt-auth"
   enable
!
mgmt-user admin root 8a3f1e2b4c5d6e7f8091a2b3c4d5e6f708192a3b
mgmt-user netops read-only 1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e
!
web-server profile
   session-timeout 900
   switch-cert default
!
ntp server 10.20.30.10
ntp server 10.20.30.11
!
logging 10.20.30.50 severity warnings
logging level warnings security subcat ids
!
snmp-server community 3b9e0a7c5d1f2e4a
snmp-server host 10.20.30.60 version 2c 3b9e0a7c5d1f2e4a
!
interface mgmt
   ip address 10.20.30.5 255.255.255.0
!
interface gigabitethernet 0/0/0
   description "uplink"
   trusted
   trusted vlan 1-4094
   switchport mode trunk
!
vlan 10
vlan 20
!
interface vlan 10
   ip address 10.20.10.5 255.255.255.0
!
ip default-gateway 10.20.30.1
ip domain-name corp.example
ip name-server 10.20.30.20
!
cluster-profile "mm-cluster"
   controller 10.20.10.6 priority 128
   controller 10.20.10.7 priority 128
!
lc-cluster group-membership "mm-cluster"
!
end
`, hostname)
}
