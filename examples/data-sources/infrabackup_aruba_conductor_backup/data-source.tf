# The latest complete backup of a conductor, read from the local backup store (no
# device call), e.g. in a module that archives or diffs backups.
data "infrabackup_aruba_conductor_backup" "mc1" {
  host = "mc1.example.net"
}

output "mc1_running_config" {
  value = {
    path   = data.infrabackup_aruba_conductor_backup.mc1.running_config_path
    sha256 = data.infrabackup_aruba_conductor_backup.mc1.running_config_sha256
    taken  = data.infrabackup_aruba_conductor_backup.mc1.completed_at
  }
}
