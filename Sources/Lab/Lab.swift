/// Local throwaway hosts on systemd-nspawn, used by `capstan lab` and the integration tests.
public enum Lab {}
