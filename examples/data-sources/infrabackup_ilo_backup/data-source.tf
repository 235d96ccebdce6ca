# The latest complete backup of an iLO, read from the local backup store (no device
# call), e.g. in a module that archives backups or checks their age.
data "infrabackup_ilo_backup" "web01" {
  host = "web01-ilo.example.net"
}

output "web01_ilo_backup" {
  value = {
    path     = data.infrabackup_ilo_backup.web01.local_path
    sha256   = data.infrabackup_ilo_backup.web01.sha256
    taken    = data.infrabackup_ilo_backup.web01.completed_at
    serial   = data.infrabackup_ilo_backup.web01.serial_number
    firmware = data.infrabackup_ilo_backup.web01.firmware_version
  }
}

# With query_device, also the live service of the iLO named here (host and port; never
# one a backup record names). Beware: reading that service makes the iLO write a fresh
# backup to its NAND, on every plan.
data "infrabackup_ilo_backup" "db01_live" {
  host         = "db01-ilo.example.net"
  query_device = true
  timeouts     = { read = "1m" }
}

output "db01_custom_backup_and_restore" {
  value = data.infrabackup_ilo_backup.db01_live.custom_backup_and_restore
}
