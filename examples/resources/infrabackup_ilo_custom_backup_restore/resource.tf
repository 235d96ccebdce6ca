# Let the iLO restore its own last custom backup, instead of the factory defaults,
# after a reset to factory defaults or a battery failure. Needs iLO 5 firmware 2.72
# or later, iLO 6 or iLO 7, and a security state below FIPS.
#
# Refresh reads the flag from the iLO, and every read of its backup service makes
# the iLO write a fresh backup file to its NAND. Destroying the resource sets the
# flag back to false, its factory default.
resource "infrabackup_ilo_custom_backup_restore" "web01" {
  host    = "web01-ilo.example.net"
  enabled = true
}
